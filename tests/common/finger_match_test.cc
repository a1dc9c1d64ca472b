#include "sdbox/common/finger_match.hpp"

#include "synthetic_minutiae.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <numbers>
#include <random>

namespace sdbox::finger {
namespace {

using testing::card_template;
using testing::impression;
using testing::random_finger;

TEST(FingerMatch, ATemplateMatchesItselfFully) {
  std::mt19937 random(7);
  const auto reference = card_template(random_finger(random));
  const auto result = compare(reference, reference);
  EXPECT_GE(result.paired, 4) << "the consolidated pairs (4 to 12)";
  EXPECT_NEAR(result.score, kScoreMax, 1) << "all minutiae paired, up to rounding";
  EXPECT_TRUE(result.match);
}

TEST(FingerMatch, TheScoreIsTheLocalAndConsolidatedViewsFused) {
  std::mt19937 random(31);
  const auto finger = random_finger(random, 40);
  const auto reference = card_template(impression(finger, random));
  const auto genuine = compare(reference, card_template(impression(finger, random)));
  const auto impostor = compare(reference, card_template(impression(random_finger(random, 40), random)));
  for (const auto& result : {genuine, impostor}) {
    EXPECT_GE(result.local, 0.0);
    EXPECT_LE(result.local, 1.0);
    EXPECT_GE(result.consolidated, 0.0);
    EXPECT_LE(result.consolidated, 1.0);
    const double fused = (1 - kConsolidatedWeight) * std::sqrt(result.local) + kConsolidatedWeight * result.consolidated;
    EXPECT_EQ(result.score, static_cast<int>(std::lround(kScoreMax * fused)));
  }
  EXPECT_GT(genuine.local, impostor.local);
  EXPECT_GT(genuine.consolidated, impostor.consolidated);
  // Too few minutiae to compare: nothing to fuse.
  const auto empty = compare(reference, {reference.front()});
  EXPECT_EQ(empty.score, 0);
  EXPECT_EQ(empty.local, 0.0);
  EXPECT_EQ(empty.consolidated, 0.0);
}

TEST(FingerMatch, GenuineImpressionsMatchAndImpostorsDoNotAtTheProductThreshold) {
  std::mt19937 random(2026);
  int genuine_accepted = 0, impostor_accepted = 0, genuine_worst = kScoreMax, impostor_best = 0;
  constexpr int kFingers = 60;
  std::vector<std::vector<Minutia>> fingers;
  fingers.reserve(kFingers);
  for (int i = 0; i < kFingers; ++i) fingers.push_back(random_finger(random, 30 + i % 20));
  for (int i = 0; i < kFingers; ++i) {
    const auto reference = card_template(impression(fingers[i], random));
    const auto genuine = compare(reference, card_template(impression(fingers[i], random)));
    const auto impostor = compare(reference, card_template(impression(fingers[(i + 1) % kFingers], random)));
    genuine_accepted += genuine.match;
    impostor_accepted += impostor.match;
    genuine_worst = std::min(genuine_worst, genuine.score);
    impostor_best = std::max(impostor_best, impostor.score);
  }
  std::cout << "genuine accepted " << genuine_accepted << "/" << kFingers << " (worst score " << genuine_worst
            << "), impostors accepted " << impostor_accepted << "/" << kFingers << " (best score " << impostor_best
            << "), threshold " << kMatchThreshold << "\n";
  // The threshold is set for FMR 0.1 % on real fingers, so some genuine attempts fail (the
  // holder tries again); an impostor must never pass here.
  EXPECT_GE(genuine_accepted, kFingers * 9 / 10);
  EXPECT_EQ(impostor_accepted, 0);
}

TEST(FingerMatch, PartnersOfTheOtherTypeCountLessButStillCount) {
  std::mt19937 random(11);
  const auto reference = card_template(random_finger(random, 40));
  auto flip_every = [&](std::size_t step) {
    auto probe = reference;
    for (std::size_t i = 0; i < probe.size(); i += step) {
      probe[i].type = probe[i].type == MinutiaType::ending ? MinutiaType::bifurcation : MinutiaType::ending;
    }
    return compare(reference, probe);
  };
  const auto same = compare(reference, reference);
  const auto half_flipped = flip_every(2);
  const auto all_flipped = flip_every(1);
  EXPECT_LT(half_flipped.score, same.score);
  EXPECT_LT(all_flipped.score, half_flipped.score);
  // Pressure turns endings into forks: a finger whose every minutia changed type is still the finger.
  EXPECT_TRUE(all_flipped.match) << all_flipped.score;
}

/// `minutiae` with the skin stretched unevenly: the quadratic (conformal) map z + a z^2 / r^2
/// about the middle of the area, which moves a minutia r from it by `a` and turns its direction
/// with the local bend.
std::vector<Minutia> stretched(const std::vector<Minutia>& minutiae, double a_mm, double r_mm) {
  auto map = [&](double x, double y) {
    const double u = x - 10, v = y - 12;
    return std::pair{x + a_mm * (u * u - v * v) / (r_mm * r_mm), y + a_mm * 2 * u * v / (r_mm * r_mm)};
  };
  std::vector<Minutia> out;
  for (const auto& m : minutiae) {
    const auto [x, y] = map(m.x_mm, m.y_mm);
    // ISO angles turn counter-clockwise as seen on the image, with y pointing down.
    const auto [ahead_x, ahead_y] = map(m.x_mm + 0.1 * std::cos(m.angle_rad), m.y_mm - 0.1 * std::sin(m.angle_rad));
    double angle = std::atan2(-(ahead_y - y), ahead_x - x);
    if (angle < 0) angle += 2 * std::numbers::pi;
    out.push_back({x, y, angle, m.type, m.quality});
  }
  return out;
}

// The card's scores are part of its behaviour: the product threshold and every accuracy figure
// in docs/ops-guide.md were measured with them. A change that is only meant to be faster must
// give these scores exactly; a change meant to score differently re-measures the FVC figures
// (tools/bench-fingerprint) and then updates them.
TEST(FingerMatch, ScoresStayExactlyAsMeasured) {
  std::mt19937 random(1234);
  std::vector<int> scores;
  constexpr int kFingers = 6;
  std::vector<std::vector<Minutia>> fingers;
  fingers.reserve(kFingers);
  // 12 minutiae (a small capture, most cylinders near the hull's edge) up to 52.
  for (int i = 0; i < kFingers; ++i) fingers.push_back(random_finger(random, 12 + 8 * i));
  for (int i = 0; i < kFingers; ++i) {
    const auto reference = card_template(impression(fingers[i], random));
    scores.push_back(compare(reference, card_template(impression(fingers[i], random))).score);
    scores.push_back(compare(reference, card_template(impression(fingers[(i + 1) % kFingers], random))).score);
  }
  // Genuine pairs with the skin stretched unevenly, where the elastic refinement decides.
  for (int i = 0; i < kFingers; ++i) {
    const auto reference = card_template(impression(fingers[i], random));
    scores.push_back(compare(reference, card_template(stretched(impression(fingers[i], random), 1.0, 9))).score);
  }
  const std::vector<int> measured = {148, 86, 185, 76, 243, 90, 282, 89, 346, 93, 301, 80, 124, 108, 207, 269, 176, 182};
  EXPECT_EQ(scores, measured) << ::testing::PrintToString(scores);
}

TEST(FingerMatch, SkinStretchedUnevenlyIsBentBackBeforePairing) {
  // Between two captures skin stretches unevenly (FVC2004 DB1's volunteers were asked to press
  // and twist), here by a millimetre 9 mm from the middle: no rigid pose undoes that, so the
  // comparison bends its best poses by a thin-plate spline through their pairs and pairs again.
  // Without the bend 16 of these 20 genuine pairs pass the product threshold (mean score 203).
  std::mt19937 random(2024);
  int accepted = 0, sum = 0;
  constexpr int kFingers = 20;
  for (int finger = 0; finger < kFingers; ++finger) {
    const auto minutiae = random_finger(random);
    const auto reference = card_template(impression(minutiae, random));
    const auto result = compare(reference, card_template(stretched(impression(minutiae, random), 1.0, 9)));
    accepted += result.match;
    sum += result.score;
  }
  std::cout << accepted << " of " << kFingers << " stretched genuine pairs accepted, mean score " << sum / kFingers << "\n";
  EXPECT_GE(accepted, 18);
}

TEST(FingerMatch, TooFewMinutiaeNeverMatch) {
  std::mt19937 random(3);
  const auto reference = card_template(random_finger(random));
  EXPECT_FALSE(compare(reference, {}).match);
  EXPECT_FALSE(compare(reference, {reference[0]}).match);
  EXPECT_FALSE(compare({}, reference).match);
}

}  // namespace
}  // namespace sdbox::finger
