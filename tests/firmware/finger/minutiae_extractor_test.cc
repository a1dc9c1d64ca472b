#include "finger/minutiae_extractor.hpp"

#include "pattern_finger.hpp"

#include "sdbox/common/finger_match.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace sdbox::firmware {
namespace {

/// Planted minutiae that have an extracted minutia within `tolerance_mm`.
int found(const std::vector<std::pair<double, double>>& truth, const std::vector<finger::Minutia>& extracted,
          double tolerance_mm) {
  int hits = 0;
  for (const auto& [x, y] : truth) {
    for (const auto& m : extracted) {
      if (std::hypot(m.x_mm - x, m.y_mm - y) <= tolerance_mm) {
        ++hits;
        break;
      }
    }
  }
  return hits;
}

TEST(MinutiaeExtractor, FindsThePlantedMinutiaeWhereTheyAre) {
  for (std::uint32_t finger = 1; finger <= 5; ++finger) {
    auto extraction = extract_minutiae(testing::pattern_finger(finger, 0));
    ASSERT_TRUE(extraction) << extraction.error().describe();
    const auto truth = testing::pattern_finger_minutiae(finger);
    const int hits = found(truth, extraction->minutiae, 0.5);
    std::cout << "finger " << finger << ": " << hits << "/" << truth.size() << " planted found, "
              << extraction->minutiae.size() << " extracted\n";
    EXPECT_GE(hits, static_cast<int>(truth.size()) * 3 / 4);
    EXPECT_LE(extraction->minutiae.size(), truth.size() + 8) << "few false minutiae";
    EXPECT_GT(extraction->quality, 0.3);
    for (const auto& m : extraction->minutiae) {
      EXPECT_GE(m.quality, 0.0);
      EXPECT_LE(m.quality, 1.0);
    }
  }
}

TEST(MinutiaeExtractor, HonoursTheImageResolution) {
  // The same finger sampled at 600 dpi must give the same physical positions.
  const GrayImage at500 = testing::pattern_finger(3, 0);
  GrayImage at600(at500.width * 6 / 5, at500.height * 6 / 5, 600);
  for (int y = 0; y < at600.height; ++y) {
    for (int x = 0; x < at600.width; ++x) at600.at(x, y) = at500.at(x * 5 / 6, y * 5 / 6);
  }
  auto extraction = extract_minutiae(at600);
  ASSERT_TRUE(extraction);
  const auto truth = testing::pattern_finger_minutiae(3);
  EXPECT_GE(found(truth, extraction->minutiae, 0.6), static_cast<int>(truth.size()) * 2 / 3);
}

TEST(MinutiaeExtractor, ImpressionsOfOneFingerMatchOnTheCardAndOtherFingersDoNot) {
  for (std::uint32_t finger = 1; finger <= 4; ++finger) {
    auto reference = finger::to_card_template(extract_minutiae(testing::pattern_finger(finger, 0))->minutiae, {});
    auto genuine = finger::to_card_template(
        extract_minutiae(testing::pattern_finger(finger, 1, 0.2, 10, -8))->minutiae, {});
    auto impostor = finger::to_card_template(extract_minutiae(testing::pattern_finger(finger + 20, 1))->minutiae, {});
    ASSERT_TRUE(reference && genuine && impostor);
    EXPECT_TRUE(finger::compare(*reference, *genuine).match) << finger;
    EXPECT_FALSE(finger::compare(*reference, *impostor).match) << finger;
  }
}

TEST(MinutiaeExtractor, RefusesWhatCannotBeAFingerprint) {
  EXPECT_FALSE(extract_minutiae(GrayImage(20, 20, 500)).ok()) << "too small";
  EXPECT_FALSE(extract_minutiae(GrayImage(300, 300, 100)).ok()) << "resolution out of range";
  GrayImage inconsistent(300, 300, 500);
  inconsistent.pixels.resize(10);
  EXPECT_FALSE(extract_minutiae(inconsistent).ok());
  auto blank = extract_minutiae(GrayImage(300, 360, 500, 255));
  ASSERT_TRUE(blank) << "a blank capture is not an error";
  EXPECT_TRUE(blank->minutiae.empty());
  EXPECT_EQ(blank->quality, 0.0);
}

}  // namespace
}  // namespace sdbox::firmware
