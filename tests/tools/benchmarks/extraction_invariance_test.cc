#include "extraction_invariance.hpp"

#include "synthetic_finger.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <numbers>

namespace sdbox::bench {
namespace {

using finger::Minutia;
using finger::MinutiaType;

GrayImage numbered(int width, int height) {
  GrayImage image(width, height, 500);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i * 7 % 251);
  return image;
}

TEST(ExtractionInvariance, TurningKeepsEveryPixel) {
  const GrayImage image = numbered(7, 5);
  const GrayImage mirrored = turned(image, LosslessTurn::mirror);
  EXPECT_EQ(mirrored.at(6, 2), image.at(0, 2));
  EXPECT_EQ(turned(mirrored, LosslessTurn::mirror).pixels, image.pixels);
  const GrayImage quarter = turned(image, LosslessTurn::quarter_turn);
  ASSERT_EQ(quarter.width, 5);
  ASSERT_EQ(quarter.height, 7);
  EXPECT_EQ(quarter.at(4, 0), image.at(0, 0)) << "clockwise: the top-left corner goes top-right";
  GrayImage round = image;
  for (int k = 0; k < 4; ++k) round = turned(round, LosslessTurn::quarter_turn);
  EXPECT_EQ(round.width, image.width);
  EXPECT_EQ(round.pixels, image.pixels);
}

TEST(ExtractionInvariance, CarriesAMinutiaBackToWhereItWas) {
  // Two marked pixels, a minutia at the first pointing at the second: found on the turned image
  // (where the marks went), carried back, it must sit on the first mark and point at the second.
  const double pixel_mm = 25.4 / 500;
  for (const auto turn : {LosslessTurn::mirror, LosslessTurn::quarter_turn}) {
    GrayImage image(40, 30, 500, 255);
    image.at(10, 20) = 0;
    image.at(13, 16) = 100;
    const GrayImage other = turned(image, turn);
    int ax = -1, ay = -1, bx = -1, by = -1;
    for (int y = 0; y < other.height; ++y) {
      for (int x = 0; x < other.width; ++x) {
        if (other.at(x, y) == 0) ax = x, ay = y;
        if (other.at(x, y) == 100) bx = x, by = y;
      }
    }
    ASSERT_GE(ax, 0);
    ASSERT_GE(bx, 0);
    // Angles count counterclockwise with y pointing down.
    const Minutia seen{ax * pixel_mm, ay * pixel_mm, std::atan2(-(by - ay), bx - ax), MinutiaType::ending, 1};
    const auto back = carried_back({seen}, image, turn);
    ASSERT_EQ(back.size(), 1U);
    EXPECT_NEAR(back[0].x_mm, 10 * pixel_mm, 1e-9);
    EXPECT_NEAR(back[0].y_mm, 20 * pixel_mm, 1e-9);
    EXPECT_NEAR(std::remainder(back[0].angle_rad - std::atan2(4.0, 3.0), 2 * std::numbers::pi), 0, 1e-9);
  }
}

TEST(ExtractionInvariance, PairsOneToOneOfTheSameTypeWithinReach) {
  const Minutia a{1.0, 1.0, 3.1, MinutiaType::ending, 1};
  const Minutia a_across_the_cut{1.05, 1.0, -3.1, MinutiaType::ending, 1};  // 0.08 rad away
  const Minutia a_as_fork{1.0, 1.0, 3.1, MinutiaType::bifurcation, 1};
  const Minutia a_too_far{1.3, 1.0, 3.1, MinutiaType::ending, 1};
  const Minutia a_turned{1.0, 1.0, 2.0, MinutiaType::ending, 1};
  EXPECT_EQ(agreement({a}, {a_across_the_cut}).shared, 1U);
  EXPECT_EQ(agreement({a}, {a_as_fork}).shared, 0U);
  EXPECT_EQ(agreement({a}, {a_too_far}).shared, 0U);
  EXPECT_EQ(agreement({a}, {a_turned}).shared, 0U);
  EXPECT_EQ(agreement({a}, {a_turned}, kFoundAgainWithinMm, std::numbers::pi).shared, 1U);
  const auto two_for_one = agreement({a}, {a_across_the_cut, a});
  EXPECT_EQ(two_for_one.first, 1U);
  EXPECT_EQ(two_for_one.second, 2U);
  EXPECT_EQ(two_for_one.shared, 1U);
}

TEST(ExtractionInvariance, TheLadderSaysWhatDiffersAboutTheMinutiaeNotFoundAgain) {
  const std::vector<Minutia> first{{1.0, 1.0, 0.5, MinutiaType::ending, 1},
                                   {3.0, 1.0, 0.5, MinutiaType::ending, 1},
                                   {5.0, 1.0, 0.5, MinutiaType::ending, 1},
                                   {7.0, 1.0, 0.5, MinutiaType::ending, 1},
                                   {9.0, 1.0, 0.5, MinutiaType::ending, 1}};
  const std::vector<Minutia> second{{1.05, 1.0, 0.6, MinutiaType::ending, 1},        // found again
                                    {3.0, 1.05, 0.5, MinutiaType::bifurcation, 1},   // another type
                                    {5.0, 1.0, 0.5 + 3.0, MinutiaType::ending, 1},   // pointing elsewhere
                                    {7.3, 1.0, 0.5, MinutiaType::bifurcation, 1}};   // 0.3 mm off; the fifth is gone
  const AgreementLadder ladder = agreement_ladder(first, second);
  EXPECT_EQ(ladder.exact.shared, 1U);
  EXPECT_EQ(ladder.any_type.shared, 2U);
  EXPECT_EQ(ladder.any_direction.shared, 3U);
  EXPECT_EQ(ladder.nearby.shared, 4U);
  EXPECT_EQ(ladder.nearby.first, 5U);
  EXPECT_EQ(ladder.nearby.second, 4U);
  AgreementLadder twice = ladder;
  twice += ladder;
  EXPECT_EQ(twice.any_direction.shared, 6U);
  EXPECT_DOUBLE_EQ(twice.nearby.share(), ladder.nearby.share());
}

TEST(ExtractionInvariance, ACaptureMirroredOrTurnedGivesTheSameMinutiaePointingTheSameWay) {
  // Synthetic impressions of several fingers: what the extractor finds on the mirrored and the
  // turned capture, carried back, against what it finds on the capture itself.
  Agreement all, forks_anyway, forks_same_way;
  for (std::uint64_t finger_seed = 1; finger_seed <= 4; ++finger_seed) {
    const auto master = fingersynth::make_master(fingersynth::derive_seed(41, finger_seed));
    const auto impression = fingersynth::make_impression(master, fingersynth::derive_seed(41, finger_seed, 1));
    const auto found = firmware::extract_minutiae(impression.image);
    ASSERT_TRUE(found) << found.error().describe();
    auto forks = [](std::vector<Minutia> minutiae) {
      std::erase_if(minutiae, [](const Minutia& m) { return m.type != MinutiaType::bifurcation; });
      return minutiae;
    };
    for (const auto turn : {LosslessTurn::mirror, LosslessTurn::quarter_turn}) {
      const auto other = firmware::extract_minutiae(turned(impression.image, turn));
      ASSERT_TRUE(other) << other.error().describe();
      const auto back = carried_back(other->minutiae, impression.image, turn);
      all += agreement(found->minutiae, back);
      forks_anyway.shared += agreement(forks(found->minutiae), forks(back), kFoundAgainWithinMm, std::numbers::pi).shared;
      forks_same_way.shared += agreement(forks(found->minutiae), forks(back)).shared;
    }
  }
  const double shared = all.share();
  const double same_way = static_cast<double>(forks_same_way.shared) / static_cast<double>(forks_anyway.shared);
  std::cout << "minutiae found again: " << shared << "; forks found again pointing the same way: "
            << forks_same_way.shared << " of " << forks_anyway.shared << "\n";
  ASSERT_GT(forks_anyway.shared, 40U);
  EXPECT_GT(shared, 0.80);
  EXPECT_GE(same_way, 0.95) << "a fork's direction must not depend on how the capture lies on the pixel grid";
}

}  // namespace
}  // namespace sdbox::bench
