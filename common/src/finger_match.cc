#include "sdbox/common/finger_match.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <tuple>

namespace sdbox::finger {

namespace {

constexpr float kPi = std::numbers::pi_v<float>;

struct Point {
  float x;
  float y;
  float theta;
  MinutiaType type;
};

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
    // clockwise in the x/y frame used for positions, hence the sign.
    points.push_back({static_cast<float>(m.x), static_cast<float>(m.y),
                      -static_cast<float>(m.angle) * 2 * kPi / static_cast<float>(kAngleSteps), m.type});
  }
  return points;
}

// Minutia Cylinder-Code (Cappelli, Ferrara, Maltoni, IEEE TPAMI 2010): each minutia is described
// by a cylinder of cells around it, in its own frame, recording which directions neighbouring
// minutiae have where. Cylinders compare without any alignment, so distortion and partial
// overlap hurt far less than with one global alignment. Lengths below are compact units
// (0.1 mm); the paper's 500 dpi values are scaled by 0.508.

constexpr int kCellsAcross = 16;
constexpr int kDirectionCells = 6;
constexpr std::size_t kSpatialCells = static_cast<std::size_t>(kCellsAcross) * kCellsAcross;
constexpr std::size_t kCells = kSpatialCells * kDirectionCells;
constexpr float kCylinderRadius = 35.6f;                    // R = 70 px
constexpr float kSpatialSigma = 4.74f;                      // 28/3 px
constexpr float kDirectionalSigma = 2 * kPi / 9;
constexpr float kHullMargin = 25.4f;                        // Omega = 50 px
constexpr float kSigmoidMu = 0.01f;
constexpr float kSigmoidTau = 400.0f;
constexpr float kValidCellShare = 0.75f;
constexpr float kCommonCellShare = 0.60f;
constexpr int kMinimumContributors = 2;
constexpr float kMaxDirectionDifference = kPi / 2;

struct Cylinder {
  std::array<float, kCells> value{};
  std::array<bool, kSpatialCells> valid{};
  bool usable = false;
};

/// The convex hull of the minutiae (counter-clockwise in x/y), where the print has finger.
std::vector<Point> convex_hull(std::vector<Point> points) {
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
  if (points.size() < 3) return points;
  auto turn = [](const Point& o, const Point& a, const Point& b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); };
  std::vector<Point> hull(2 * points.size());
  std::size_t k = 0;
  for (const auto& p : points) {
    while (k >= 2 && turn(hull[k - 2], hull[k - 1], p) <= 0) --k;
    hull[k++] = p;
  }
  for (std::size_t i = points.size() - 1, lower = k + 1; i-- > 0;) {
    while (k >= lower && turn(hull[k - 2], hull[k - 1], points[i]) <= 0) --k;
    hull[k++] = points[i];
  }
  hull.resize(k - 1);
  return hull;
}

/// Whether (x, y) lies in the hull or within `margin` of it (MCC's valid cells).
bool near_hull(const std::vector<Point>& hull, float x, float y, float margin) {
  bool inside = hull.size() >= 3;
  for (std::size_t i = 0; inside && i < hull.size(); ++i) {
    const Point& a = hull[i];
    const Point& b = hull[(i + 1) % hull.size()];
    if ((b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x) < 0) inside = false;
  }
  if (inside) return true;
  float nearest = HUGE_VALF;
  for (std::size_t i = 0; i < hull.size(); ++i) {
    const Point& a = hull[i];
    const Point& b = hull[(i + 1) % hull.size()];
    const float ex = b.x - a.x, ey = b.y - a.y;
    const float length2 = ex * ex + ey * ey;
    const float t = length2 > 0 ? std::clamp(((x - a.x) * ex + (y - a.y) * ey) / length2, 0.0f, 1.0f) : 0.0f;
    nearest = std::min(nearest, std::hypot(a.x + t * ex - x, a.y + t * ey - y));
  }
  return nearest <= margin;
}

std::vector<Cylinder> cylinders(const std::vector<Point>& points) {
  std::vector<Cylinder> result(points.size());
  const auto hull = convex_hull(points);
  const float cell = 2 * kCylinderRadius / kCellsAcross;
  const float spatial_norm = 1.0f / (kSpatialSigma * std::sqrt(2 * kPi));
  const float directional_norm = 1.0f / (kDirectionalSigma * std::sqrt(2 * kPi));
  const float direction_cell = 2 * kPi / kDirectionCells;
  std::vector<std::pair<std::size_t, float>> near;
  std::vector<float> directional;
  std::vector<std::size_t> reachable;
  constexpr float kReach = kCylinderRadius + 3 * kSpatialSigma + 1.0f;
  const float empty_cell = 1.0f / (1.0f + std::exp(-kSigmoidTau * (0.0f - kSigmoidMu)));
  for (std::size_t m = 0; m < points.size(); ++m) {
    Cylinder& cylinder = result[m];
    const float c = std::cos(points[m].theta), s = std::sin(points[m].theta);
    int valid_cells = 0, possible_cells = 0;
    std::vector<bool> contributed(points.size());
    // Only minutiae within reach of some cell can contribute: the cells' centres lie within R of
    // this minutia and a contribution reaches 3 sigma (plus 0.1 mm against rounding).
    reachable.clear();
    for (std::size_t t = 0; t < points.size(); ++t) {
      const float dx = points[t].x - points[m].x, dy = points[t].y - points[m].y;
      if (t != m && dx * dx + dy * dy <= kReach * kReach) reachable.push_back(t);
    }
    // The directional term depends only on the neighbour and the direction cell, not on the
    // spatial cell: computed once per neighbour instead of once per cell.
    directional.assign(points.size() * kDirectionCells, 0.0f);
    for (const std::size_t t : reachable) {
      const float relative = wrap(points[m].theta - points[t].theta);
      for (int k = 0; k < kDirectionCells; ++k) {
        const float cell_direction = -kPi + (static_cast<float>(k) + 0.5f) * direction_cell;
        const float d = wrap(cell_direction - relative);
        directional[t * kDirectionCells + static_cast<std::size_t>(k)] = std::exp(-d * d / (2 * kDirectionalSigma * kDirectionalSigma));
      }
    }
    for (int i = 0; i < kCellsAcross; ++i) {
      for (int j = 0; j < kCellsAcross; ++j) {
        const float u = cell * (static_cast<float>(i) - (kCellsAcross - 1) / 2.0f);
        const float v = cell * (static_cast<float>(j) - (kCellsAcross - 1) / 2.0f);
        if (u * u + v * v > kCylinderRadius * kCylinderRadius) continue;
        ++possible_cells;
        const float x = points[m].x + c * u - s * v;
        const float y = points[m].y + s * u + c * v;
        // Cells beyond the minutiae's hull lie outside the print: they say nothing.
        if (!near_hull(hull, x, y, kHullMargin)) continue;
        near.clear();
        for (const std::size_t t : reachable) {
          const float dx = points[t].x - x, dy = points[t].y - y;
          const float d2 = dx * dx + dy * dy;
          if (d2 <= 9 * kSpatialSigma * kSpatialSigma) {
            near.emplace_back(t, spatial_norm * std::exp(-d2 / (2 * kSpatialSigma * kSpatialSigma)));
          }
        }
        const auto cell_index = static_cast<std::size_t>(i) * kCellsAcross + static_cast<std::size_t>(j);
        cylinder.valid[cell_index] = true;
        ++valid_cells;
        if (near.empty()) {
          std::fill_n(cylinder.value.begin() + static_cast<std::ptrdiff_t>(cell_index * kDirectionCells), kDirectionCells, empty_cell);
          continue;
        }
        for (int k = 0; k < kDirectionCells; ++k) {
          float sum = 0;
          for (const auto& [t, spatial] : near) {
            sum += spatial * directional_norm * direction_cell * directional[t * kDirectionCells + static_cast<std::size_t>(k)];
            contributed[t] = true;
          }
          cylinder.value[cell_index * kDirectionCells + static_cast<std::size_t>(k)] =
              1.0f / (1.0f + std::exp(-kSigmoidTau * (sum - kSigmoidMu)));
        }
      }
    }
    const int contributors = static_cast<int>(std::count(contributed.begin(), contributed.end(), true));
    cylinder.usable = static_cast<float>(valid_cells) >= kValidCellShare * static_cast<float>(possible_cells) &&
                      contributors >= kMinimumContributors;
  }
  return result;
}

float cylinder_similarity(const Cylinder& a, const Point& pa, const Cylinder& b, const Point& pb, int possible_cells) {
  if (!a.usable || !b.usable) return 0;
  if (std::abs(wrap(pa.theta - pb.theta)) > kMaxDirectionDifference) return 0;
  int common = 0;
  float aa = 0, bb = 0, diff = 0;
  for (std::size_t cell = 0; cell < a.valid.size(); ++cell) {
    if (!a.valid[cell] || !b.valid[cell]) continue;
    ++common;
    for (int k = 0; k < kDirectionCells; ++k) {
      const float x = a.value[cell * kDirectionCells + static_cast<std::size_t>(k)];
      const float y = b.value[cell * kDirectionCells + static_cast<std::size_t>(k)];
      aa += x * x;
      bb += y * y;
      diff += (x - y) * (x - y);
    }
  }
  if (static_cast<float>(common) < kCommonCellShare * static_cast<float>(possible_cells)) return 0;
  const float norms = std::sqrt(aa) + std::sqrt(bb);
  if (norms <= 0) return 0;
  return 1.0f - std::sqrt(diff) / norms;
}

int possible_cell_count() {
  const float cell = 2 * kCylinderRadius / kCellsAcross;
  int count = 0;
  for (int i = 0; i < kCellsAcross; ++i) {
    for (int j = 0; j < kCellsAcross; ++j) {
      const float u = cell * (static_cast<float>(i) - (kCellsAcross - 1) / 2.0f);
      const float v = cell * (static_cast<float>(j) - (kCellsAcross - 1) / 2.0f);
      count += u * u + v * v <= kCylinderRadius * kCylinderRadius;
    }
  }
  return count;
}

/// Z of the paper: close to 1 when `value` is well below `mu`, close to 0 well above it.
float falling(float value, float mu, float tau) { return 1.0f / (1.0f + std::exp(tau * (value - mu))); }

/// How well two minutia pairs agree with each other geometrically: the distance between the
/// two minutiae, their relative direction and the direction of the segment joining them should
/// be the same in both prints.
float compatibility(const Point& a1, const Point& a2, const Point& b1, const Point& b2) {
  const float da = std::hypot(a2.x - a1.x, a2.y - a1.y);
  const float db = std::hypot(b2.x - b1.x, b2.y - b1.y);
  const float relative_a = wrap(a1.theta - a2.theta);
  const float relative_b = wrap(b1.theta - b2.theta);
  const float segment_a = wrap(a1.theta - std::atan2(a2.y - a1.y, a2.x - a1.x));
  const float segment_b = wrap(b1.theta - std::atan2(b2.y - b1.y, b2.x - b1.x));
  constexpr float kDistanceMu = 2.54f;   // 5 px
  constexpr float kDistanceTau = 3.15f;  // 8/5 per px
  constexpr float kAngleMu = kPi / 12;
  constexpr float kAngleTau = 30.0f;
  return falling(std::abs(da - db), kDistanceMu, kDistanceTau) *
         falling(std::abs(wrap(relative_a - relative_b)), kAngleMu, kAngleTau) *
         falling(std::abs(wrap(segment_a - segment_b)), kAngleMu, kAngleTau);
}

/// Local Similarity Sort with Relaxation: the best one-to-one local similarities are relaxed by
/// their geometric agreement with each other (genuine pairs agree, chance pairs do not); the
/// result is the mean relaxed similarity of the pairs that kept most of theirs (0..1).
double relaxed_local_score(const std::vector<Point>& reference, const std::vector<Point>& probe,
                           const std::vector<std::tuple<float, std::size_t, std::size_t>>& similarities, int* paired) {
  const std::size_t smaller = std::min(reference.size(), probe.size());
  // n_P of the paper: 4 to 12 pairs, by how many minutiae the smaller template has (mu_P = 20).
  const int wanted = 4 + static_cast<int>(std::lround(8.0 / (1.0 + std::exp(-0.4 * (static_cast<double>(smaller) - 20.0)))));
  struct Pair {
    std::size_t a, b;
    float initial, relaxed;
  };
  std::vector<Pair> pairs;
  std::vector<bool> used_a(reference.size()), used_b(probe.size());
  for (const auto& [similarity, i, j] : similarities) {
    if (pairs.size() == smaller) break;
    if (used_a[i] || used_b[j]) continue;
    used_a[i] = used_b[j] = true;
    pairs.push_back({i, j, similarity, similarity});
  }
  if (pairs.size() < 2) return 0;
  const std::size_t n = pairs.size();
  std::vector<float> rho(n * n, 0.0f);
  for (std::size_t t = 0; t < n; ++t) {
    for (std::size_t k = t + 1; k < n; ++k) {
      rho[t * n + k] = rho[k * n + t] =
          compatibility(reference[pairs[t].a], reference[pairs[k].a], probe[pairs[t].b], probe[pairs[k].b]);
    }
  }
  constexpr int kIterations = 5;
  constexpr float kKeep = 0.5f;
  std::vector<float> next(n);
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    for (std::size_t t = 0; t < n; ++t) {
      float support = 0;
      for (std::size_t k = 0; k < n; ++k) {
        if (k != t) support += rho[t * n + k] * pairs[k].relaxed;
      }
      next[t] = kKeep * pairs[t].relaxed + (1 - kKeep) * support / static_cast<float>(n - 1);
    }
    for (std::size_t t = 0; t < n; ++t) pairs[t].relaxed = next[t];
  }
  std::sort(pairs.begin(), pairs.end(), [](const Pair& x, const Pair& y) {
    return x.relaxed / x.initial > y.relaxed / y.initial;  // efficiency
  });
  const std::size_t taken = std::min<std::size_t>(static_cast<std::size_t>(wanted), n);
  double sum = 0;
  for (std::size_t t = 0; t < taken; ++t) sum += pairs[t].relaxed;
  *paired = static_cast<int>(taken);
  return sum / wanted;
}

// Global consolidation, lengths in compact units (0.1 mm), tuned on the FVC sets.
constexpr std::size_t kAnchors = 25;          // alignments tried: the most similar local pairs
constexpr float kPairTolerance = 4.0f;        // 0.4 mm at the anchor...
constexpr float kStretch = 0.04f;             // ...plus 4 % of the distance from it (elastic skin)
constexpr float kPairAngleTolerance = kPi / 6;
constexpr float kOverlapReach = 25.0f;        // a minutia within 2.5 mm of the other's lies in its area
constexpr float kLeastShown = 24.0f;          // small overlaps are not allowed to look perfect
// Pressure and moisture turn endings into forks and back, so a pair of different types still
// counts, but less: chance pairs between two fingers agree on type only half the time.
constexpr float kTypeMismatchCredit = 0.75f;
// The elastic refinement: the best rigid poses bent by a thin-plate spline through their pairs.
constexpr std::size_t kBentPoses = 3;
constexpr int kBendRounds = 3;
constexpr std::size_t kLeastPairsToBend = 6;  // fewer pairs would bend a chance alignment into shape
constexpr double kBendStiffness = 0.1;        // regularisation, times the mean kernel value
constexpr float kBentPairTolerance = 5.0f;    // 0.5 mm: what is left once the skin's stretch is undone

using Pairs = std::vector<std::pair<std::size_t, std::size_t>>;

struct PairCandidate {
  float cost;
  std::size_t a, b;
};

/// What pairing needs between calls, kept so that a comparison allocates it once.
struct PairingScratch {
  std::vector<PairCandidate> candidates;
  std::vector<bool> used_a, used_b;
};

/// One-to-one pairs of reference and (moved) probe minutiae, closest first: within
/// `tolerance(i)` of reference minutia i and kPairAngleTolerance of its direction.
template <typename Tolerance>
void pair_up(const std::vector<Point>& reference, const std::vector<Point>& moved, Tolerance tolerance,
             PairingScratch& scratch, Pairs& pairs) {
  auto& candidates = scratch.candidates;
  candidates.clear();
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const float reach = tolerance(i);
    for (std::size_t j = 0; j < moved.size(); ++j) {
      // hypot is never below either leg, so this skips only pairs the distance would reject.
      if (std::abs(reference[i].x - moved[j].x) > reach || std::abs(reference[i].y - moved[j].y) > reach) continue;
      const float d = std::hypot(reference[i].x - moved[j].x, reference[i].y - moved[j].y);
      if (d > reach) continue;
      const float turn = std::abs(wrap(reference[i].theta - moved[j].theta));
      if (turn > kPairAngleTolerance) continue;
      candidates.push_back({d / reach + turn / kPairAngleTolerance, i, j});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const PairCandidate& x, const PairCandidate& y) { return x.cost < y.cost; });
  auto& used_a = scratch.used_a;
  auto& used_b = scratch.used_b;
  used_a.assign(reference.size(), false);
  used_b.assign(moved.size(), false);
  pairs.clear();
  for (const auto& candidate : candidates) {
    if (used_a[candidate.a] || used_b[candidate.b]) continue;
    used_a[candidate.a] = used_b[candidate.b] = true;
    pairs.emplace_back(candidate.a, candidate.b);
  }
}

/// How many of `mine` lie where `other` has finger (within kOverlapReach of one of its minutiae).
float shown_in(const std::vector<Point>& mine, const std::vector<Point>& other) {
  int count = 0;
  for (const auto& m : mine) {
    for (const auto& o : other) {
      if (std::abs(m.x - o.x) > kOverlapReach || std::abs(m.y - o.y) > kOverlapReach) continue;
      if (std::hypot(m.x - o.x, m.y - o.y) <= kOverlapReach) {
        ++count;
        break;
      }
    }
  }
  return static_cast<float>(count);
}

/// The share of the minutiae both prints could show that found a partner (squared, so both
/// prints' shares count): a partner of the other type counts less.
double paired_share(const std::vector<Point>& reference, const std::vector<Point>& probe, const Pairs& pairs,
                    float reference_shown, float probe_shown) {
  float m = 0;
  for (const auto& [i, j] : pairs) m += reference[i].type == probe[j].type ? 1.0f : kTypeMismatchCredit;
  return static_cast<double>(m * m / (std::max(kLeastShown, reference_shown) * std::max(kLeastShown, probe_shown)));
}

/// A thin-plate spline (Bookstein) through pairs of points, regularised so that it bends only as
/// far as many pairs agree: Bazen and Gerez's model of skin between two captures.
class ThinPlateSpline {
 public:
  bool fit(const std::vector<Point>& from, const std::vector<Point>& to, double stiffness) {
    const std::size_t n = from.size(), size = n + 3;
    std::vector<double> a(size * size, 0.0), bx(size, 0.0), by(size, 0.0);
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        a[i * size + j] = kernel(from[i].x - from[j].x, from[i].y - from[j].y);
        mean += std::abs(a[i * size + j]);
      }
    }
    mean /= static_cast<double>(n * n);
    for (std::size_t i = 0; i < n; ++i) {
      a[i * size + i] += stiffness * mean;
      a[i * size + n] = a[n * size + i] = 1;
      a[i * size + n + 1] = a[(n + 1) * size + i] = from[i].x;
      a[i * size + n + 2] = a[(n + 2) * size + i] = from[i].y;
      bx[i] = to[i].x;
      by[i] = to[i].y;
    }
    // Gaussian elimination with partial pivoting, both coordinates at once.
    for (std::size_t c = 0; c < size; ++c) {
      std::size_t pivot = c;
      for (std::size_t r = c + 1; r < size; ++r) {
        if (std::abs(a[r * size + c]) > std::abs(a[pivot * size + c])) pivot = r;
      }
      if (std::abs(a[pivot * size + c]) < 1e-9) return false;  // all pairs on one line
      if (pivot != c) {
        std::swap_ranges(a.begin() + static_cast<std::ptrdiff_t>(c * size), a.begin() + static_cast<std::ptrdiff_t>((c + 1) * size),
                         a.begin() + static_cast<std::ptrdiff_t>(pivot * size));
        std::swap(bx[c], bx[pivot]);
        std::swap(by[c], by[pivot]);
      }
      for (std::size_t r = c + 1; r < size; ++r) {
        const double factor = a[r * size + c] / a[c * size + c];
        if (factor == 0) continue;
        for (std::size_t k = c; k < size; ++k) a[r * size + k] -= factor * a[c * size + k];
        bx[r] -= factor * bx[c];
        by[r] -= factor * by[c];
      }
    }
    for (std::size_t c = size; c-- > 0;) {
      for (std::size_t k = c + 1; k < size; ++k) {
        bx[c] -= a[c * size + k] * bx[k];
        by[c] -= a[c * size + k] * by[k];
      }
      bx[c] /= a[c * size + c];
      by[c] /= a[c * size + c];
    }
    // Nearly collinear pairs leave the affine part undetermined: no bend rather than a wild one.
    for (std::size_t c = 0; c < size; ++c) {
      if (!std::isfinite(bx[c]) || !std::isfinite(by[c])) return false;
    }
    controls_ = from;
    bx.swap(weights_x_);
    by.swap(weights_y_);
    return true;
  }

  /// Where the spline takes `point`; its direction follows the local bend.
  [[nodiscard]] Point warp(const Point& point) const {
    const auto [x, y] = at(point.x, point.y);
    constexpr float kStep = 5.0f;  // half a millimetre along the minutia's direction
    const auto [ahead_x, ahead_y] = at(point.x + kStep * std::cos(point.theta), point.y + kStep * std::sin(point.theta));
    return {x, y, std::atan2(ahead_y - y, ahead_x - x), point.type};
  }

 private:
  static double kernel(double dx, double dy) {
    const double r2 = dx * dx + dy * dy;
    return r2 > 1e-9 ? r2 * std::log(r2) : 0.0;
  }
  [[nodiscard]] std::pair<float, float> at(float x, float y) const {
    const std::size_t n = controls_.size();
    double fx = weights_x_[n] + weights_x_[n + 1] * x + weights_x_[n + 2] * y;
    double fy = weights_y_[n] + weights_y_[n + 1] * x + weights_y_[n + 2] * y;
    for (std::size_t i = 0; i < n; ++i) {
      const double u = kernel(x - controls_[i].x, y - controls_[i].y);
      fx += weights_x_[i] * u;
      fy += weights_y_[i] * u;
    }
    return {static_cast<float>(fx), static_cast<float>(fy)};
  }
  std::vector<Point> controls_;
  std::vector<double> weights_x_, weights_y_;  // n kernel weights, then the affine part
};

/// `probe` turned by `rotation` and moved by (tx, ty).
void move_rigidly(const std::vector<Point>& probe, float rotation, float tx, float ty, std::vector<Point>& moved) {
  const float c = std::cos(rotation), s = std::sin(rotation);
  moved.resize(probe.size());
  for (std::size_t j = 0; j < probe.size(); ++j) {
    moved[j] = {c * probe[j].x - s * probe[j].y + tx, s * probe[j].x + c * probe[j].y + ty, wrap(probe[j].theta + rotation), probe[j].type};
  }
}

/// A rigid pose of the probe on the reference and the pairs it found.
struct RigidPose {
  double score;
  float rotation, tx, ty;
  Pairs pairs;
  float reference_shown, probe_shown;
};

/// Global consolidation: each of the most similar local pairs proposes an alignment (the
/// probe turned and moved so the pair coincides); the probe's minutiae are paired one-to-one with
/// the reference's that land close enough, the tolerance growing with the distance from the
/// anchor because skin stretches. The score is the share of the minutiae both prints could show
/// (those in the other's area) that found a partner, a partner of the other type counting less:
/// partial captures are not punished for the area they miss. The best rigid poses are then bent
/// by a thin-plate spline through their pairs and paired again, a tighter tolerance: skin
/// stretches unevenly (FVC2004 DB1's captures were asked to), which no rigid pose undoes.
double consolidated_score(const std::vector<Point>& reference, const std::vector<Point>& probe,
                          const std::vector<std::tuple<float, std::size_t, std::size_t>>& similarities) {
  std::vector<Point> moved(probe.size());
  PairingScratch scratch;
  Pairs matched;
  std::vector<RigidPose> poses;
  double best = 0;
  for (std::size_t anchor = 0; anchor < std::min(kAnchors, similarities.size()); ++anchor) {
    const auto [similarity, ai, bj] = similarities[anchor];
    float rotation = wrap(reference[ai].theta - probe[bj].theta);
    const float c = std::cos(rotation), s = std::sin(rotation);
    float tx = reference[ai].x - (c * probe[bj].x - s * probe[bj].y);
    float ty = reference[ai].y - (s * probe[bj].x + c * probe[bj].y);
    const float anchor_x = reference[ai].x, anchor_y = reference[ai].y;
    auto stretching = [&](std::size_t i) {
      return kPairTolerance + kStretch * std::hypot(reference[i].x - anchor_x, reference[i].y - anchor_y);
    };
    for (int pass = 0; pass < 2; ++pass) {
      move_rigidly(probe, rotation, tx, ty, moved);
      pair_up(reference, moved, stretching, scratch, matched);
      if (pass == 1 || matched.size() < 3) break;
      // Least-squares rigid alignment over the pairs found, then pair again.
      double mx = 0, my = 0, px = 0, py = 0;
      for (const auto& [i, j] : matched) mx += reference[i].x, my += reference[i].y, px += probe[j].x, py += probe[j].y;
      const double count = static_cast<double>(matched.size());
      mx /= count, my /= count, px /= count, py /= count;
      double sxx = 0, sxy = 0;
      for (const auto& [i, j] : matched) {
        const double ax = reference[i].x - mx, ay = reference[i].y - my, bx = probe[j].x - px, by = probe[j].y - py;
        sxx += bx * ax + by * ay;
        sxy += bx * ay - by * ax;
      }
      rotation = static_cast<float>(std::atan2(sxy, sxx));
      const float fitted_c = std::cos(rotation), fitted_s = std::sin(rotation);
      tx = static_cast<float>(mx - (fitted_c * px - fitted_s * py));
      ty = static_cast<float>(my - (fitted_s * px + fitted_c * py));
    }
    const float reference_shown = shown_in(reference, moved);
    const float probe_shown = shown_in(moved, reference);
    const double score = paired_share(reference, probe, matched, reference_shown, probe_shown);
    best = std::max(best, score);
    if (matched.size() >= kLeastPairsToBend) poses.push_back({score, rotation, tx, ty, matched, reference_shown, probe_shown});
  }

  std::partial_sort(poses.begin(), poses.begin() + static_cast<std::ptrdiff_t>(std::min(kBentPoses, poses.size())), poses.end(),
                    [](const RigidPose& x, const RigidPose& y) { return x.score > y.score; });
  std::vector<Point> from, to, bent;
  for (std::size_t k = 0; k < std::min(kBentPoses, poses.size()); ++k) {
    RigidPose& pose = poses[k];
    move_rigidly(probe, pose.rotation, pose.tx, pose.ty, moved);
    Pairs& pairs = pose.pairs;  // the pose is not looked at again: its pairs become the bent ones
    for (int round = 0; round < kBendRounds && pairs.size() >= kLeastPairsToBend; ++round) {
      from.clear();
      to.clear();
      for (const auto& [i, j] : pairs) {
        from.push_back(moved[j]);
        to.push_back(reference[i]);
      }
      ThinPlateSpline spline;
      if (!spline.fit(from, to, kBendStiffness)) break;
      bent.clear();
      for (const auto& point : moved) {
        Point carried = spline.warp(point);
        // Finite weights can still overflow far from the pairs; such a point pairs with nothing.
        if (!std::isfinite(carried.x) || !std::isfinite(carried.y) || !std::isfinite(carried.theta)) carried.x = carried.y = 1e9f, carried.theta = 0;
        bent.push_back(carried);
      }
      pair_up(reference, bent, [](std::size_t) { return kBentPairTolerance; }, scratch, pairs);
      // The area both show is the rigid pose's: bending must not shrink the denominator.
      best = std::max(best, paired_share(reference, probe, pairs, pose.reference_shown, pose.probe_shown));
    }
  }
  return std::min(1.0, best);
}

Comparison cylinder_compare(const std::vector<Point>& reference, const std::vector<Point>& probe) {
  Comparison result;
  const auto a = cylinders(reference);
  const auto b = cylinders(probe);
  const int possible = possible_cell_count();
  std::vector<std::tuple<float, std::size_t, std::size_t>> similarities;
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::size_t j = 0; j < b.size(); ++j) {
      const float similarity = cylinder_similarity(a[i], reference[i], b[j], probe[j], possible);
      if (similarity > 0) similarities.emplace_back(similarity, i, j);
    }
  }
  std::sort(similarities.begin(), similarities.end(), [](const auto& x, const auto& y) { return std::get<0>(x) > std::get<0>(y); });
  result.local = relaxed_local_score(reference, probe, similarities, &result.paired);
  result.consolidated = consolidated_score(reference, probe, similarities);
  const double fused = (1 - kConsolidatedWeight) * std::sqrt(result.local) + kConsolidatedWeight * result.consolidated;
  result.score = std::clamp(static_cast<int>(std::lround(kScoreMax * fused)), 0, kScoreMax);
  return result;
}

}  // namespace

Comparison compare(const std::vector<CompactMinutia>& reference, const std::vector<CompactMinutia>& probe) {
  Comparison result;
  if (reference.size() < 2 || probe.size() < 2) return result;
  result = cylinder_compare(to_points(reference), to_points(probe));
  result.match = result.score >= kMatchThreshold;
  return result;
}

}  // namespace sdbox::finger
