#include "finger/minutia_rules.hpp"

#include <cmath>
#include <numbers>

namespace sdbox::firmware {

namespace {

constexpr float kPi = std::numbers::pi_v<float>;

/// A thinned junction is often a small blob of pixels of which two or three have three branches:
/// one fork seen up to two diagonal steps apart, pointing the same way.
constexpr float kRepeatReach = 2.9f;
constexpr float kRepeatTurn = kPi / 6;

float angle_between(float a, float b) {
  const float d = std::fmod(std::abs(a - b), 2 * kPi);
  return d > kPi ? 2 * kPi - d : d;
}

float distance(const MinutiaCandidate& a, const MinutiaCandidate& b) { return std::hypot(a.x - b.x, a.y - b.y); }

}  // namespace

void remove_false_minutiae(std::vector<MinutiaCandidate>& candidates, float ridge_period) {
  // Repeats first: otherwise the rule below takes two detections of one fork for two forks too
  // close together and drops a real minutia.
  std::vector<MinutiaCandidate> distinct;
  distinct.reserve(candidates.size());
  for (const auto& candidate : candidates) {
    bool repeat = false;
    for (const auto& seen : distinct) {
      if (seen.type == candidate.type && distance(seen, candidate) <= kRepeatReach &&
          angle_between(seen.angle, candidate.angle) <= kRepeatTurn) {
        repeat = true;
        break;
      }
    }
    if (!repeat) distinct.push_back(candidate);
  }

  std::vector<bool> removed(distinct.size(), false);
  for (std::size_t i = 0; i < distinct.size(); ++i) {
    int neighbours = 0;
    for (std::size_t j = 0; j < distinct.size(); ++j) {
      if (i == j || distance(distinct[i], distinct[j]) >= ridge_period) continue;
      ++neighbours;
      const bool both_endings =
          distinct[i].type == finger::MinutiaType::ending && distinct[j].type == finger::MinutiaType::ending;
      const bool opposite = angle_between(distinct[i].angle, distinct[j].angle) > kPi * 0.6f;
      if ((both_endings && opposite) || distinct[i].type == distinct[j].type) removed[i] = true;
    }
    if (neighbours >= 2) removed[i] = true;
  }
  candidates.clear();
  for (std::size_t i = 0; i < distinct.size(); ++i) {
    if (!removed[i]) candidates.push_back(distinct[i]);
  }
}

}  // namespace sdbox::firmware
