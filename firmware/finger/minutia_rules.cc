#include "finger/minutia_rules.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numbers>

namespace sdbox::firmware {

namespace {

constexpr float kHalfTurn = std::numbers::pi_v<float>;  // 180 degrees

// A thinned junction is often a small blob of pixels of which two or three have three branches:
// one fork seen up to two diagonal steps apart, pointing the same way.
constexpr float kRepeatReach = 2.9f;
constexpr float kRepeatTurn = kHalfTurn / 6;

// A bridge's chord runs nearly across the ridges; a true fork's branch meets another fork along them.
constexpr float kBridgeTurn = kHalfTurn * 7 / 18;  // 70 degrees

float distance(const MinutiaCandidate& a, const MinutiaCandidate& b) { return std::hypot(a.x - b.x, a.y - b.y); }

BranchWalk follow(const finger::BinaryImage& skeleton, int x, int y, int first_x, int first_y, int length) {
  int previous_x = x, previous_y = y, cx = first_x, cy = first_y;
  for (int step = 1; step <= length; ++step) {
    const int cn = finger::crossing_number(skeleton, cx, cy);
    if (cn >= 3) return {cx, cy, step, true, false};
    if (cn == 1 && step > 1) return {cx, cy, step, false, true};
    int next_x = -1, next_y = -1;
    for (const auto& [dx, dy] : finger::kNeighbourRing) {
      const int nx = cx + dx, ny = cy + dy;
      if (!skeleton.inside(nx, ny) || !skeleton.at(nx, ny)) continue;
      if (nx == previous_x && ny == previous_y) continue;
      if (std::abs(nx - previous_x) <= 1 && std::abs(ny - previous_y) <= 1) continue;  // corner of the same step
      next_x = nx;
      next_y = ny;
      break;
    }
    if (next_x < 0) return {cx, cy, step, false, true};
    previous_x = cx;
    previous_y = cy;
    cx = next_x;
    cy = next_y;
  }
  return {cx, cy, length, false, false};
}

}  // namespace

float angle_between(float a, float b) {
  const float d = std::fmod(std::abs(a - b), 2 * kHalfTurn);
  return d > kHalfTurn ? 2 * kHalfTurn - d : d;
}

std::vector<BranchWalk> walk_branches(const finger::BinaryImage& skeleton, int x, int y, int length) {
  std::vector<BranchWalk> walks;
  for (const auto& [dx, dy] : finger::kNeighbourRing) {
    if (!skeleton.inside(x + dx, y + dy) || !skeleton.at(x + dx, y + dy)) continue;
    walks.push_back(follow(skeleton, x, y, x + dx, y + dy, length));
  }
  return walks;
}

bool is_bridge(const std::vector<BranchWalk>& walks, int x, int y, float ridge_direction) {
  return std::any_of(walks.begin(), walks.end(), [&](const BranchWalk& walk) {
    if (!walk.hit_junction) return false;
    // The ridge direction is an axis (modulo pi): the chord is off it by the nearer of the two senses.
    const float turn = angle_between(std::atan2(static_cast<float>(walk.y - y), static_cast<float>(walk.x - x)), ridge_direction);
    return std::min(turn, kHalfTurn - turn) > kBridgeTurn;
  });
}

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
      const bool opposite = angle_between(distinct[i].angle, distinct[j].angle) > kHalfTurn * 0.6f;
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
