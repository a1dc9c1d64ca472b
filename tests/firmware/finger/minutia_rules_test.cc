#include "finger/minutia_rules.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <numbers>

namespace sdbox::firmware {
namespace {

constexpr float kPi = std::numbers::pi_v<float>;
constexpr float kPeriod = 9.0f;
using finger::MinutiaType;

MinutiaCandidate fork(float x, float y, float angle) { return {x, y, angle, MinutiaType::bifurcation, 0.5f}; }
MinutiaCandidate ending(float x, float y, float angle) { return {x, y, angle, MinutiaType::ending, 0.5f}; }

TEST(MinutiaRules, MinutiaeApartFromEachOtherAllStay) {
  std::vector<MinutiaCandidate> candidates{fork(10, 10, 0), ending(40, 10, kPi), fork(10, 40, 1), ending(40, 40, 2)};
  remove_false_minutiae(candidates, kPeriod);
  EXPECT_EQ(candidates.size(), 4U);
}

TEST(MinutiaRules, OneForkSeenAtTwoJunctionPixelsIsKeptOnce) {
  // A thinned junction blob: two pixels two steps apart with three branches, pointing alike.
  std::vector<MinutiaCandidate> candidates{fork(20, 20, 0.3f), fork(22, 21, 0.4f), ending(60, 20, 0)};
  remove_false_minutiae(candidates, kPeriod);
  ASSERT_EQ(candidates.size(), 2U);
  EXPECT_EQ(candidates[0].type, MinutiaType::bifurcation);
  EXPECT_FLOAT_EQ(candidates[0].x, 20);
  EXPECT_EQ(candidates[1].type, MinutiaType::ending);
}

TEST(MinutiaRules, TwoForksAroundAPoreBothGo) {
  // A pore in a ridge leaves a small loop: two forks a few pixels apart pointing opposite ways.
  std::vector<MinutiaCandidate> candidates{fork(20, 20, 0), fork(22, 20, kPi), ending(60, 20, 0)};
  remove_false_minutiae(candidates, kPeriod);
  ASSERT_EQ(candidates.size(), 1U);
  EXPECT_EQ(candidates[0].type, MinutiaType::ending);
}

TEST(MinutiaRules, ABrokenRidgeLosesBothEnds) {
  std::vector<MinutiaCandidate> candidates{ending(20, 20, 0), ending(26, 20, kPi), fork(60, 60, 0)};
  remove_false_minutiae(candidates, kPeriod);
  ASSERT_EQ(candidates.size(), 1U);
  EXPECT_EQ(candidates[0].type, MinutiaType::bifurcation);
}

TEST(MinutiaRules, SameTypeCloserThanAPeriodBothGoOtherTypeStays) {
  // Forks 6 px apart pointing alike are beyond a repeat's reach: a bridge between two ridges.
  std::vector<MinutiaCandidate> bridge{fork(20, 20, 0), fork(26, 20, 0.2f)};
  remove_false_minutiae(bridge, kPeriod);
  EXPECT_TRUE(bridge.empty());
  // An ending beside a fork, pointing alike: both can be skin.
  std::vector<MinutiaCandidate> mixed{fork(20, 20, 0), ending(26, 20, 0.2f)};
  remove_false_minutiae(mixed, kPeriod);
  EXPECT_EQ(mixed.size(), 2U);
}

TEST(MinutiaRules, AClusterIsNoise) {
  std::vector<MinutiaCandidate> candidates{fork(20, 20, 0), ending(26, 20, 0.1f), ending(20, 26, 2.5f), fork(70, 70, 1)};
  remove_false_minutiae(candidates, kPeriod);
  ASSERT_EQ(candidates.size(), 1U);
  EXPECT_FLOAT_EQ(candidates[0].x, 70);
}

/// A skeleton with straight lines drawn one pixel wide (8-connected steps).
finger::BinaryImage skeleton_with(const std::vector<std::array<int, 4>>& lines) {
  finger::BinaryImage skeleton(80, 60);
  for (const auto& [x0, y0, x1, y1] : lines) {
    const int steps = std::max(std::abs(x1 - x0), std::abs(y1 - y0));
    for (int i = 0; i <= steps; ++i) {
      skeleton.at(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) = 1;
    }
  }
  return skeleton;
}

TEST(MinutiaRules, BranchWalksStopAtForksAndEnds) {
  // A ridge along y = 10 with a branch leaving at x = 30 and ending at (38, 20).
  const auto skeleton = skeleton_with({{0, 10, 79, 10}, {30, 10, 30, 12}, {30, 12, 38, 20}});
  ASSERT_EQ(finger::crossing_number(skeleton, 30, 10), 3);
  const auto from_the_end = walk_branches(skeleton, 38, 20, 30);
  ASSERT_EQ(from_the_end.size(), 1U);
  EXPECT_TRUE(from_the_end[0].hit_junction);
  EXPECT_EQ(from_the_end[0].x, 30);
  EXPECT_EQ(from_the_end[0].steps, 10);
  const auto from_the_fork = walk_branches(skeleton, 30, 10, 5);
  ASSERT_EQ(from_the_fork.size(), 3U);
  for (const auto& walk : from_the_fork) EXPECT_FALSE(walk.hit_junction || walk.hit_end) << walk.x << "," << walk.y;
  const auto short_of_the_end = walk_branches(skeleton, 30, 10, 12);
  EXPECT_EQ(std::count_if(short_of_the_end.begin(), short_of_the_end.end(), [](const BranchWalk& w) { return w.hit_end; }), 1);
}

TEST(MinutiaRules, ABridgeAcrossTheRidgesIsOneAForkAlongThemIsNot) {
  // Two ridges along y = 10 and y = 19 joined by a slanted bridge from (32, 19) up to (30, 10).
  const auto bridged = skeleton_with({{0, 10, 79, 10}, {0, 19, 79, 19}, {30, 10, 30, 12}, {30, 12, 32, 14}, {32, 14, 32, 19}});
  ASSERT_EQ(finger::crossing_number(bridged, 32, 19), 3);
  const auto walks = walk_branches(bridged, 32, 19, 11);
  EXPECT_TRUE(is_bridge(walks, 32, 19, 0.0f));
  // Beyond the walks' reach it is not seen.
  EXPECT_FALSE(is_bridge(walk_branches(bridged, 32, 19, 8), 32, 19, 0.0f));
  // The same shape where the ridges run the bridge's way, or 25 degrees off it: a branch along the flow.
  EXPECT_FALSE(is_bridge(walks, 32, 19, std::atan2(9.0f, 2.0f)));
  EXPECT_FALSE(is_bridge(walks, 32, 19, std::atan2(9.0f, 2.0f) + 25 * std::numbers::pi_v<float> / 180));
  // A ridge that splits and whose branch runs on beside it meets no fork: skin.
  const auto forked = skeleton_with({{0, 10, 79, 10}, {30, 10, 30, 12}, {30, 12, 37, 19}, {37, 19, 79, 19}});
  EXPECT_FALSE(is_bridge(walk_branches(forked, 30, 10, 11), 30, 10, 0.0f));
  // Two forks joined along the flow (a ridge that splits and joins again): not a bridge.
  const auto along = skeleton_with({{0, 10, 79, 10}, {30, 10, 30, 12}, {30, 12, 42, 12}, {42, 12, 42, 10}});
  const auto around = walk_branches(along, 30, 10, 20);
  EXPECT_TRUE(std::any_of(around.begin(), around.end(), [](const BranchWalk& w) { return w.hit_junction; }));
  EXPECT_FALSE(is_bridge(around, 30, 10, 0.0f));
}

TEST(MinutiaRules, NothingInNothingOut) {
  std::vector<MinutiaCandidate> candidates;
  remove_false_minutiae(candidates, kPeriod);
  EXPECT_TRUE(candidates.empty());
}

}  // namespace
}  // namespace sdbox::firmware
