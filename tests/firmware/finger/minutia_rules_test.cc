#include "finger/minutia_rules.hpp"

#include <gtest/gtest.h>

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

TEST(MinutiaRules, NothingInNothingOut) {
  std::vector<MinutiaCandidate> candidates;
  remove_false_minutiae(candidates, kPeriod);
  EXPECT_TRUE(candidates.empty());
}

}  // namespace
}  // namespace sdbox::firmware
