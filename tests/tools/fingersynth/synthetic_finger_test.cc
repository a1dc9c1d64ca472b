#include "synthetic_finger.hpp"

#include "finger/minutiae_extractor.hpp"

#include "sdbox/common/finger_match.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numbers>

namespace sdbox::fingersynth {
namespace {

constexpr double kPi = std::numbers::pi;

double angle_gap(double a, double b) {
  const double d = std::fmod(std::abs(a - b), 2 * kPi);
  return d > kPi ? 2 * kPi - d : d;
}

/// Ground-truth minutiae with an extracted one within half a millimetre, pointing within 30°;
/// the direction errors (degrees) of those found go to `direction_errors` when given.
int recovered(const std::vector<finger::Minutia>& truth, const std::vector<finger::Minutia>& extracted,
              std::vector<double>* direction_errors = nullptr) {
  int hits = 0;
  for (const auto& t : truth) {
    for (const auto& e : extracted) {
      if (std::hypot(e.x_mm - t.x_mm, e.y_mm - t.y_mm) <= 0.5 && angle_gap(e.angle_rad, t.angle_rad) <= kPi / 6) {
        ++hits;
        if (direction_errors != nullptr) direction_errors->push_back(angle_gap(e.angle_rad, t.angle_rad) * 180 / kPi);
        break;
      }
    }
  }
  return hits;
}

std::vector<finger::CompactMinutia> card_template(const GrayImage& image) {
  auto extraction = firmware::extract_minutiae(image);
  EXPECT_TRUE(extraction);
  auto compact = finger::to_card_template(extraction->minutiae, {});
  EXPECT_TRUE(compact) << compact.error().describe();
  return compact ? *compact : std::vector<finger::CompactMinutia>{};
}

TEST(SyntheticFinger, TheSameSeedGivesTheSameFingerBitForBit) {
  const auto master = make_master(derive_seed(11, 101));
  const auto again = make_master(derive_seed(11, 101));
  EXPECT_EQ(master.ridges, again.ridges);
  EXPECT_EQ(master.minutiae.size(), again.minutiae.size());
  const auto impression = make_impression(master, derive_seed(11, 101, 1));
  EXPECT_EQ(impression.image.pixels, make_impression(again, derive_seed(11, 101, 1)).image.pixels);

  EXPECT_NE(impression.image.pixels, make_impression(master, derive_seed(11, 101, 2)).image.pixels)
      << "another impression of the same finger";
  EXPECT_NE(master.ridges, make_master(derive_seed(11, 102)).ridges) << "another finger";
  EXPECT_NE(master.ridges, make_master(derive_seed(12, 101)).ridges) << "another set";
}

TEST(SyntheticFinger, MastersHaveMinutiaeOfBothKindsInsideTheFinger) {
  int endings = 0, bifurcations = 0;
  for (std::uint64_t finger = 1; finger <= 4; ++finger) {
    const auto master = make_master(derive_seed(5, finger));
    EXPECT_GE(master.minutiae.size(), 15u) << pattern_name(master.pattern);
    EXPECT_LE(master.minutiae.size(), 90u);
    for (const auto& minutia : master.minutiae) {
      const int x = static_cast<int>(minutia.x_mm * 500 / 25.4), y = static_cast<int>(minutia.y_mm * 500 / 25.4);
      ASSERT_TRUE(x >= 0 && y >= 0 && x < master.width && y < master.height);
      EXPECT_EQ(master.finger[static_cast<std::size_t>(y) * master.width + x], 1) << "a minutia off the finger";
      EXPECT_GE(minutia.angle_rad, 0.0);
      EXPECT_LT(minutia.angle_rad, 2 * kPi);
      (minutia.type == finger::MinutiaType::ending ? endings : bifurcations) += 1;
    }
  }
  EXPECT_GT(endings, 10);
  EXPECT_GT(bifurcations, 10);
}

TEST(SyntheticFinger, NeighbouringMinutiaeFaceEachOtherAsOftenAsOnRealSkin) {
  // On real fingers a minutia and its nearest neighbour point opposite ways (within 30 degrees
  // of it) in about 40 % of cases (FVC2002 and FVC2004 through our extractor): short ridges,
  // enclosures, breaks. Ridges grown along a flow alone gave 12-13 %, which made fingers of one
  // class alike enough to pass the product threshold against each other.
  int opposite = 0, pairs = 0;
  for (std::uint64_t finger = 1; finger <= 6; ++finger) {
    const auto master = make_master(derive_seed(7, finger));
    for (const auto& minutia : master.minutiae) {
      const finger::Minutia* nearest = nullptr;
      double nearest_distance = 1e9;
      for (const auto& other : master.minutiae) {
        const double distance = std::hypot(other.x_mm - minutia.x_mm, other.y_mm - minutia.y_mm);
        if (&other != &minutia && distance < nearest_distance) nearest = &other, nearest_distance = distance;
      }
      ASSERT_NE(nearest, nullptr);
      ++pairs;
      opposite += angle_gap(minutia.angle_rad, nearest->angle_rad) >= 5 * kPi / 6;
    }
  }
  std::cout << opposite << " of " << pairs << " nearest neighbours point the opposite way\n";
  EXPECT_GE(opposite * 100, pairs * 30);
  EXPECT_LE(opposite * 100, pairs * 50);
}

TEST(SyntheticFinger, TheExtractorFindsTheGroundTruthWhereTheImpressionPutIt) {
  // The ground truth moves with the pose and the elastic distortion; the box's extractor must
  // find most of it (and this checks both: a wrong transform or a poor extractor fails here).
  int truth = 0, found = 0;
  for (std::uint64_t finger = 1; finger <= 3; ++finger) {
    const auto master = make_master(derive_seed(21, finger));
    for (std::uint64_t impression = 1; impression <= 2; ++impression) {
      const auto capture = make_impression(master, derive_seed(21, finger, impression), 500, {1.5});
      auto extraction = firmware::extract_minutiae(capture.image);
      ASSERT_TRUE(extraction);
      const int hits = recovered(capture.minutiae, extraction->minutiae);
      std::cout << pattern_name(master.pattern) << " impression " << impression << ": " << hits << "/"
                << capture.minutiae.size() << " ground-truth minutiae found, " << extraction->minutiae.size()
                << " extracted\n";
      EXPECT_GE(hits * 10, static_cast<int>(capture.minutiae.size()) * 6);
      EXPECT_LE(extraction->minutiae.size(), capture.minutiae.size() * 3 / 2 + 5) << "few false minutiae";
      truth += static_cast<int>(capture.minutiae.size());
      found += hits;
    }
  }
  EXPECT_GE(found * 100, truth * 75);
}

TEST(SyntheticFinger, ExtractedDirectionsFollowTheGroundTruthClosely) {
  // Compact templates keep 5.625° steps, so the extractor's own angle error should be of that
  // order: a whole-pixel walk along the skeleton alone is several times coarser.
  std::vector<double> errors;
  for (std::uint64_t finger = 1; finger <= 3; ++finger) {
    const auto master = make_master(derive_seed(23, finger));
    const auto capture = make_impression(master, derive_seed(23, finger, 1), 500, {1.0});
    auto extraction = firmware::extract_minutiae(capture.image);
    ASSERT_TRUE(extraction);
    recovered(capture.minutiae, extraction->minutiae, &errors);
  }
  ASSERT_GE(errors.size(), 40u);
  std::sort(errors.begin(), errors.end());
  const double median = errors[errors.size() / 2];
  const double p90 = errors[errors.size() * 9 / 10];
  std::cout << errors.size() << " minutiae found, direction error median " << median << "°, 90th percentile " << p90 << "°\n";
  EXPECT_LE(median, 3.0);
  EXPECT_LE(p90, 7.0);
}

TEST(SyntheticFinger, ResolutionIsAnInputAndPositionsStayPhysical) {
  const auto master = make_master(derive_seed(31, 1));
  const auto at500 = make_impression(master, derive_seed(31, 1, 1), 500);
  const auto at569 = make_impression(master, derive_seed(31, 1, 1), 569);
  EXPECT_EQ(at569.image.dpi, 569);
  EXPECT_NEAR(at569.image.width, at500.image.width * 569.0 / 500, 1.0);
  EXPECT_NEAR(at569.image.height, at500.image.height * 569.0 / 500, 1.0);
  ASSERT_EQ(at500.minutiae.size(), at569.minutiae.size()) << "the same pose, only sampled finer";
  for (std::size_t i = 0; i < at500.minutiae.size(); ++i) EXPECT_DOUBLE_EQ(at500.minutiae[i].x_mm, at569.minutiae[i].x_mm);
  auto extraction = firmware::extract_minutiae(at569.image);
  ASSERT_TRUE(extraction);
  EXPECT_GE(recovered(at569.minutiae, extraction->minutiae) * 10, static_cast<int>(at569.minutiae.size()) * 6);
}

TEST(SyntheticFinger, GenuineImpressionsMatchOnTheCardAndImpostorsDoNot) {
  // Product path and product threshold: extractor, compact-card template, the card's comparison.
  constexpr std::uint64_t kFingers = 6, kImpressions = 3;
  std::vector<std::vector<std::vector<finger::CompactMinutia>>> templates(kFingers);
  for (std::uint64_t finger = 0; finger < kFingers; ++finger) {
    const auto master = make_master(derive_seed(41, finger));
    for (std::uint64_t impression = 1; impression <= kImpressions; ++impression) {
      templates[finger].push_back(card_template(make_impression(master, derive_seed(41, finger, impression)).image));
    }
  }
  int genuine = 0, accepted = 0, impostor = 0, false_matches = 0, highest_impostor = 0;
  for (std::size_t f = 0; f < kFingers; ++f) {
    for (std::size_t g = f; g < kFingers; ++g) {
      for (std::size_t i = 0; i < kImpressions; ++i) {
        for (std::size_t j = f == g ? i + 1 : 0; j < kImpressions; ++j) {
          const auto comparison = finger::compare(templates[f][i], templates[g][j]);
          if (f == g) {
            ++genuine;
            accepted += comparison.match;
          } else {
            ++impostor;
            false_matches += comparison.match;
            highest_impostor = std::max(highest_impostor, comparison.score);
          }
        }
      }
    }
  }
  std::cout << accepted << "/" << genuine << " genuine accepted, " << false_matches << "/" << impostor
            << " impostors accepted (highest impostor score " << highest_impostor << ", threshold "
            << finger::kMatchThreshold << ")\n";
  EXPECT_GE(accepted * 10, genuine * 9);
  EXPECT_EQ(false_matches, 0);
}

}  // namespace
}  // namespace sdbox::fingersynth
