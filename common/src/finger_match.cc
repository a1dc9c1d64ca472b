#include "sdbox/common/finger_match.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

namespace sdbox::finger {

namespace {

constexpr float kPi = std::numbers::pi_v<float>;
constexpr int kNeighbours = 6;
constexpr std::size_t kAlignmentCandidates = 24;
// Tolerances in compact units (0.1 mm) and radians.
constexpr float kNeighbourDistanceSlack = 6.0f;      // plus 10 % of the distance
constexpr float kNeighbourAngleSlack = 0.35f;
constexpr float kPairDistance = 15.0f;                // 1.5 mm after alignment
constexpr float kPairAngle = 0.5f;                    // about 29 degrees
constexpr float kOverlapRadius = 30.0f;               // 3 mm: a minutia this close to the other print is in the overlap
constexpr int kMinimumOverlap = 12;

struct Point {
  float x;
  float y;
  float theta;
};

struct Neighbour {
  float distance;
  float direction;  // where the neighbour lies, relative to the minutia's own direction
  float rotation;   // the neighbour's direction relative to the minutia's
};

using Structure = std::array<Neighbour, kNeighbours>;

float wrap(float angle) {
  while (angle > kPi) angle -= 2 * kPi;
  while (angle <= -kPi) angle += 2 * kPi;
  return angle;
}

std::vector<Point> to_points(const std::vector<CompactMinutia>& minutiae) {
  std::vector<Point> points;
  points.reserve(minutiae.size());
  for (const auto& m : minutiae) {
    // ISO angles turn counter-clockwise as seen on the image; with y pointing down that is
    // clockwise in the x/y frame the rotations below use, hence the sign.
    points.push_back({static_cast<float>(m.x), static_cast<float>(m.y),
                      -static_cast<float>(m.angle) * 2 * kPi / static_cast<float>(kAngleSteps)});
  }
  return points;
}

/// The nearest neighbours of each minutia, described in its own frame (rotation invariant).
std::vector<Structure> local_structures(const std::vector<Point>& points, std::vector<int>& counts) {
  std::vector<Structure> structures(points.size());
  counts.assign(points.size(), 0);
  std::vector<std::pair<float, std::size_t>> by_distance;
  for (std::size_t i = 0; i < points.size(); ++i) {
    by_distance.clear();
    for (std::size_t j = 0; j < points.size(); ++j) {
      if (i == j) continue;
      by_distance.emplace_back(std::hypot(points[j].x - points[i].x, points[j].y - points[i].y), j);
    }
    const std::size_t take = std::min<std::size_t>(kNeighbours, by_distance.size());
    std::partial_sort(by_distance.begin(), by_distance.begin() + static_cast<std::ptrdiff_t>(take), by_distance.end());
    for (std::size_t k = 0; k < take; ++k) {
      const Point& n = points[by_distance[k].second];
      structures[i][k] = {by_distance[k].first,
                          wrap(std::atan2(n.y - points[i].y, n.x - points[i].x) - points[i].theta),
                          wrap(n.theta - points[i].theta)};
    }
    counts[i] = static_cast<int>(take);
  }
  return structures;
}

/// How many neighbours of two local structures agree (greedy, one to one).
int structure_similarity(const Structure& a, int a_count, const Structure& b, int b_count) {
  std::array<bool, kNeighbours> used{};
  int agreeing = 0;
  for (int i = 0; i < a_count; ++i) {
    for (int j = 0; j < b_count; ++j) {
      if (used[static_cast<std::size_t>(j)]) continue;
      const Neighbour& p = a[static_cast<std::size_t>(i)];
      const Neighbour& q = b[static_cast<std::size_t>(j)];
      if (std::abs(p.distance - q.distance) > kNeighbourDistanceSlack + 0.1f * p.distance) continue;
      if (std::abs(wrap(p.direction - q.direction)) > kNeighbourAngleSlack) continue;
      if (std::abs(wrap(p.rotation - q.rotation)) > kNeighbourAngleSlack) continue;
      used[static_cast<std::size_t>(j)] = true;
      ++agreeing;
      break;
    }
  }
  return agreeing;
}

struct Alignment {
  int paired = 0;
  int reference_in_overlap = 0;
  int probe_in_overlap = 0;
};

/// Places every probe minutia with a rotation and a translation (probe frame -> reference frame).
void transform(const std::vector<Point>& probe, float rotation, float tx, float ty, std::vector<Point>& moved) {
  const float c = std::cos(rotation);
  const float s = std::sin(rotation);
  moved.resize(probe.size());
  for (std::size_t q = 0; q < probe.size(); ++q) {
    moved[q] = {c * probe[q].x - s * probe[q].y + tx, s * probe[q].x + c * probe[q].y + ty, probe[q].theta + rotation};
  }
}

/// Pairs moved probe minutiae with reference minutiae one to one (nearest first) and counts
/// how many of each side lie where the two prints overlap.
Alignment pair_up(const std::vector<Point>& reference, const std::vector<Point>& moved,
                  std::vector<std::array<float, 3>>& candidates, std::vector<std::pair<std::size_t, std::size_t>>& pairs) {
  candidates.clear();
  pairs.clear();
  Alignment result;
  std::vector<bool> reference_covered(reference.size()), probe_covered(moved.size());
  for (std::size_t q = 0; q < moved.size(); ++q) {
    for (std::size_t r = 0; r < reference.size(); ++r) {
      const float ex = reference[r].x - moved[q].x;
      const float ey = reference[r].y - moved[q].y;
      const float distance_squared = ex * ex + ey * ey;
      if (distance_squared <= kOverlapRadius * kOverlapRadius) {
        reference_covered[r] = true;
        probe_covered[q] = true;
      }
      if (distance_squared > kPairDistance * kPairDistance) continue;
      if (std::abs(wrap(reference[r].theta - moved[q].theta)) > kPairAngle) continue;
      candidates.push_back({distance_squared, static_cast<float>(r), static_cast<float>(q)});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) { return a[0] < b[0]; });
  std::vector<bool> reference_used(reference.size()), probe_used(moved.size());
  for (const auto& candidate : candidates) {
    const auto r = static_cast<std::size_t>(candidate[1]);
    const auto q = static_cast<std::size_t>(candidate[2]);
    if (reference_used[r] || probe_used[q]) continue;
    reference_used[r] = probe_used[q] = true;
    pairs.emplace_back(r, q);
  }
  result.paired = static_cast<int>(pairs.size());
  result.reference_in_overlap = static_cast<int>(std::count(reference_covered.begin(), reference_covered.end(), true));
  result.probe_in_overlap = static_cast<int>(std::count(probe_covered.begin(), probe_covered.end(), true));
  return result;
}

/// Starts from the alignment that puts probe[j] on reference[i] (rotation from their
/// directions), then refits rotation and translation by least squares over the pairs found and
/// pairs again: one minutia's direction is too noisy to place the far side of a print.
Alignment align(const std::vector<Point>& reference, const std::vector<Point>& probe, std::size_t i, std::size_t j,
                std::vector<Point>& moved, std::vector<std::array<float, 3>>& candidates) {
  float rotation = wrap(reference[i].theta - probe[j].theta);
  float tx = reference[i].x - (std::cos(rotation) * probe[j].x - std::sin(rotation) * probe[j].y);
  float ty = reference[i].y - (std::sin(rotation) * probe[j].x + std::cos(rotation) * probe[j].y);
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  transform(probe, rotation, tx, ty, moved);
  Alignment best = pair_up(reference, moved, candidates, pairs);
  for (int refinement = 0; refinement < 2 && pairs.size() >= 3; ++refinement) {
    float rx = 0, ry = 0, px = 0, py = 0;
    for (const auto& [r, q] : pairs) {
      rx += reference[r].x, ry += reference[r].y, px += probe[q].x, py += probe[q].y;
    }
    const float n = static_cast<float>(pairs.size());
    rx /= n, ry /= n, px /= n, py /= n;
    float dot = 0, cross = 0;
    for (const auto& [r, q] : pairs) {
      const float ax = probe[q].x - px, ay = probe[q].y - py;
      const float bx = reference[r].x - rx, by = reference[r].y - ry;
      dot += ax * bx + ay * by;
      cross += ax * by - ay * bx;
    }
    rotation = std::atan2(cross, dot);
    tx = rx - (std::cos(rotation) * px - std::sin(rotation) * py);
    ty = ry - (std::sin(rotation) * px + std::cos(rotation) * py);
    transform(probe, rotation, tx, ty, moved);
    const Alignment refined = pair_up(reference, moved, candidates, pairs);
    if (refined.paired < best.paired) break;
    best = refined;
  }
  return best;
}

/// Paired minutiae squared over the product of those that could have paired (the ones in the
/// overlap, but never fewer than kMinimumOverlap so that a tiny overlap cannot score high).
int score_of(const Alignment& alignment) {
  const double paired = alignment.paired;
  const double reference = std::max(alignment.reference_in_overlap, kMinimumOverlap);
  const double probe = std::max(alignment.probe_in_overlap, kMinimumOverlap);
  return std::min(100, static_cast<int>(std::lround(100.0 * paired * paired / (reference * probe))));
}

}  // namespace

Comparison compare(const std::vector<CompactMinutia>& reference, const std::vector<CompactMinutia>& probe) {
  Comparison result;
  if (reference.size() < 2 || probe.size() < 2) return result;
  const auto reference_points = to_points(reference);
  const auto probe_points = to_points(probe);
  std::vector<int> reference_counts, probe_counts;
  const auto reference_structures = local_structures(reference_points, reference_counts);
  const auto probe_structures = local_structures(probe_points, probe_counts);

  // Local agreement proposes alignments; the global pairing under each decides.
  struct Candidate {
    int similarity;
    std::size_t reference;
    std::size_t probe;
  };
  std::vector<Candidate> candidates;
  for (std::size_t i = 0; i < reference_points.size(); ++i) {
    for (std::size_t j = 0; j < probe_points.size(); ++j) {
      const int similarity = structure_similarity(reference_structures[i], reference_counts[i], probe_structures[j],
                                                  probe_counts[j]);
      if (similarity >= 2) candidates.push_back({similarity, i, j});
    }
  }
  const std::size_t keep = std::min(kAlignmentCandidates, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep), candidates.end(),
                    [](const Candidate& a, const Candidate& b) { return a.similarity > b.similarity; });
  std::vector<std::array<float, 3>> scratch;
  std::vector<Point> moved;
  for (std::size_t k = 0; k < keep; ++k) {
    const Alignment alignment =
        align(reference_points, probe_points, candidates[k].reference, candidates[k].probe, moved, scratch);
    // The alignment that pairs the most decides; scoring each one and keeping the best would
    // hand impostors their luckiest small overlap.
    const int score = score_of(alignment);
    if (alignment.paired > result.paired || (alignment.paired == result.paired && score > result.score)) {
      result.score = score;
      result.paired = alignment.paired;
    }
  }
  result.match = result.score >= kMatchThreshold;
  return result;
}

}  // namespace sdbox::finger
