#include "synthetic_finger.hpp"

#include "sdbox/common/ridge_skeleton.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <numbers>

namespace sdbox::fingersynth {

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kMasterDpi = 500;
constexpr double kPixelsPerMm = kMasterDpi / 25.4;
constexpr int kMasterWidth = 376;   // 19.1 mm
constexpr int kMasterHeight = 472;  // 24.0 mm

/// splitmix64: small, fast and the same on every platform (the standard library's
/// distributions are not), so a seed names the same finger everywhere.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  double normal() {
    const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform()));
    return radius * std::cos(2 * kPi * uniform());
  }

 private:
  std::uint64_t state_;
};

/// Value noise: random values on a coarse grid, smoothly interpolated; -1..1.
class SmoothNoise {
 public:
  SmoothNoise(Random& random, double width, double height, double cell)
      : cell_(cell), columns_(static_cast<int>(width / cell) + 3), rows_(static_cast<int>(height / cell) + 3) {
    values_.resize(static_cast<std::size_t>(columns_) * static_cast<std::size_t>(rows_));
    for (auto& value : values_) value = random.uniform(-1, 1);
  }
  [[nodiscard]] double at(double x, double y) const {
    const double gx = std::clamp(x / cell_ + 1, 0.0, columns_ - 1.001);
    const double gy = std::clamp(y / cell_ + 1, 0.0, rows_ - 1.001);
    const int ix = static_cast<int>(gx), iy = static_cast<int>(gy);
    const double fx = smooth(gx - ix), fy = smooth(gy - iy);
    const double top = value(ix, iy) + (value(ix + 1, iy) - value(ix, iy)) * fx;
    const double bottom = value(ix, iy + 1) + (value(ix + 1, iy + 1) - value(ix, iy + 1)) * fx;
    return top + (bottom - top) * fy;
  }

 private:
  static double smooth(double t) { return t * t * (3 - 2 * t); }
  [[nodiscard]] double value(int x, int y) const {
    return values_[static_cast<std::size_t>(y) * static_cast<std::size_t>(columns_) + static_cast<std::size_t>(x)];
  }
  double cell_;
  int columns_, rows_;
  std::vector<double> values_;
};

struct Point {
  double x = 0, y = 0;
};

/// Ridge direction everywhere (radians, counter-clockwise with y up, modulo pi): the zero-pole
/// model of Sherlock and Monro for loops, whorls and tented arches, a bent field for plain arches.
struct OrientationModel {
  Pattern pattern = Pattern::arch;
  std::vector<Point> cores, deltas;  // pixels
  double base = 0;
  double arch_centre = 0, arch_width = 1, arch_height = 0;
  /// No two people's ridges follow the model exactly: a slow random bend on top of it.
  std::vector<SmoothNoise> wander;
  double wander_radians = 0;

  [[nodiscard]] double angle(double x, double y) const {
    const double bend = wander_radians * (wander[0].at(x, y) + 0.5 * wander[1].at(x, y));
    if (pattern == Pattern::arch) {
      const double slope = std::tanh((x - arch_centre) / arch_width) * std::max(0.15, 1.2 - y / arch_height);
      return base + bend - std::atan(slope);
    }
    double sum = 0;
    for (const auto& delta : deltas) sum -= std::atan2(-(y - delta.y), x - delta.x);
    for (const auto& core : cores) sum += std::atan2(-(y - core.y), x - core.x);
    return base + bend + 0.5 * sum;
  }
};

OrientationModel make_orientation(Pattern pattern, Random& random, Point centre) {
  OrientationModel model;
  model.pattern = pattern;
  model.base = random.uniform(-0.25, 0.25);
  const double mm = kPixelsPerMm;
  model.wander.emplace_back(random, kMasterWidth, kMasterHeight, 6.0 * mm);
  model.wander.emplace_back(random, kMasterWidth, kMasterHeight, 2.5 * mm);
  // Wide ranges for the singular points and the bend: with the core within 1 mm of the middle and
  // the delta within 2.5 mm of one place, two loops of one side were far more alike than two real
  // ones (ground-truth impostor median 139-144, against 112-115 for fingers of different classes).
  model.wander_radians = random.uniform(0.2, 0.5);
  const Point core{centre.x + random.uniform(-2.0, 2.0) * mm, centre.y + random.uniform(-4.0, 0.5) * mm};
  switch (pattern) {
    case Pattern::arch:
      model.arch_centre = centre.x + random.uniform(-1.5, 1.5) * mm;
      model.arch_width = random.uniform(4.0, 7.0) * mm;
      model.arch_height = kMasterHeight * random.uniform(0.8, 1.1);
      break;
    case Pattern::tented_arch:
      model.cores.push_back(core);
      model.deltas.push_back({core.x + random.uniform(-0.5, 0.5) * mm, core.y + random.uniform(2.5, 4.0) * mm});
      break;
    case Pattern::left_loop:
    case Pattern::right_loop: {
      const double side = pattern == Pattern::left_loop ? 1.0 : -1.0;
      model.cores.push_back(core);
      model.deltas.push_back({core.x + side * random.uniform(3.0, 8.0) * mm, core.y + random.uniform(3.5, 9.0) * mm});
      break;
    }
    case Pattern::whorl: {
      const double tilt = random.uniform(-0.6, 0.6);
      const double half = random.uniform(0.6, 1.4) * mm;
      model.cores.push_back({core.x - half * std::sin(tilt), core.y + mm - half * std::cos(tilt)});
      model.cores.push_back({core.x + half * std::sin(tilt), core.y + mm + half * std::cos(tilt)});
      model.deltas.push_back({core.x - random.uniform(5.0, 7.0) * mm, core.y + random.uniform(5.5, 8.0) * mm});
      model.deltas.push_back({core.x + random.uniform(5.0, 7.0) * mm, core.y + random.uniform(5.5, 8.0) * mm});
      break;
    }
  }
  return model;
}

Pattern draw_pattern(Random& random) {
  // Roughly how often each class occurs in people.
  const double draw = random.uniform();
  if (draw < 0.05) return Pattern::arch;
  if (draw < 0.09) return Pattern::tented_arch;
  if (draw < 0.42) return Pattern::left_loop;
  if (draw < 0.72) return Pattern::right_loop;
  return Pattern::whorl;
}

/// Gabor kernels tuned to a ridge direction and period, normalised so that a matching sinusoid
/// passes with gain 1 and flat areas give nothing.
class GaborBank {
 public:
  static constexpr int kAngles = 32;
  static constexpr double kShortestPeriod = 6.5, kPeriodStep = 0.5;
  static constexpr int kPeriods = 13;  // 6.5 .. 12.5 px
  static constexpr int kRadius = 10;
  static constexpr int kSide = 2 * kRadius + 1;
  static constexpr std::size_t kTaps = static_cast<std::size_t>(kSide) * kSide;

  GaborBank()
      : kernels_(static_cast<std::size_t>(kAngles * kPeriods) * kSide * kSide), odd_kernels_(kernels_.size()) {
    for (int a = 0; a < kAngles; ++a) {
      for (int p = 0; p < kPeriods; ++p) build(a, p);
    }
  }
  [[nodiscard]] static int index(double angle, double period) {
    double turn = std::fmod(angle, kPi);
    if (turn < 0) turn += kPi;
    const int a = static_cast<int>(std::lround(turn / kPi * kAngles)) % kAngles;
    const int p = std::clamp(static_cast<int>(std::lround((period - kShortestPeriod) / kPeriodStep)), 0, kPeriods - 1);
    return a * kPeriods + p;
  }
  [[nodiscard]] const float* kernel(int index) const {
    return &kernels_[static_cast<std::size_t>(index) * kSide * kSide];
  }
  /// The quadrature partner of `kernel`: a sine across the ridges, gain 1 on a matching sinusoid
  /// shifted a quarter period towards `normal(index)`.
  [[nodiscard]] const float* odd_kernel(int index) const {
    return &odd_kernels_[static_cast<std::size_t>(index) * kSide * kSide];
  }
  /// The direction across the ridges (image coordinates, y down) the kernels of `index` use.
  [[nodiscard]] static Point normal(int index) {
    const int turn = index / kPeriods;  // the angle step; kernels of one angle differ in period
    const double angle = kPi * turn / kAngles;
    return {std::sin(angle), std::cos(angle)};
  }

 private:
  void build(int a, int p) {
    const double angle = kPi * a / kAngles;
    const double period = kShortestPeriod + kPeriodStep * p;
    const double sigma = 0.42 * period;
    // The normal to the ridge in image coordinates (y down).
    const double nx = std::sin(angle), ny = std::cos(angle);
    const std::size_t offset = (static_cast<std::size_t>(a) * kPeriods + static_cast<std::size_t>(p)) * kSide * kSide;
    float* out = &kernels_[offset];
    std::array<double, kTaps> envelope{}, wave{}, sine{};
    double mean = 0, weight = 0;
    for (int dy = -kRadius; dy <= kRadius; ++dy) {
      for (int dx = -kRadius; dx <= kRadius; ++dx) {
        const std::size_t i = static_cast<std::size_t>(dy + kRadius) * kSide + static_cast<std::size_t>(dx + kRadius);
        envelope[i] = std::exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
        wave[i] = std::cos(2 * kPi * (dx * nx + dy * ny) / period);
        sine[i] = std::sin(2 * kPi * (dx * nx + dy * ny) / period);
        mean += envelope[i] * wave[i];
        weight += envelope[i];
      }
    }
    double gain = 0;
    for (std::size_t i = 0; i < envelope.size(); ++i) {
      const double value = envelope[i] * (wave[i] - mean / weight);
      gain += value * wave[i];
      out[i] = static_cast<float>(value);
    }
    for (std::size_t i = 0; i < envelope.size(); ++i) out[i] = static_cast<float>(out[i] / gain);
    // The sine has no mean over a symmetric window, so only its gain needs setting (each tap
    // rounded to float before the division, as the even kernel's are).
    float* odd = &odd_kernels_[offset];
    double odd_gain = 0;
    for (std::size_t i = 0; i < envelope.size(); ++i) odd_gain += envelope[i] * sine[i] * sine[i];
    for (std::size_t i = 0; i < envelope.size(); ++i) odd[i] = static_cast<float>(static_cast<float>(envelope[i] * sine[i]) / odd_gain);
  }
  std::vector<float> kernels_, odd_kernels_;
};

const GaborBank& gabor_bank() {
  static const GaborBank bank;  // a constant table, built once
  return bank;
}

double outline_value(const MasterPrint& master, double x_mm, double y_mm) {
  // A fingertip: round at the top, squarer towards the first joint.
  const double u = std::abs(x_mm - master.centre_x_mm) / master.ellipse_a_mm;
  const double v = (y_mm - master.centre_y_mm) / master.ellipse_b_mm;
  const double exponent = v < 0 ? 2.0 : 3.0;
  return std::pow(u, exponent) + std::pow(std::abs(v), exponent);
}

float sample_ridges(const MasterPrint& master, double x, double y) {
  if (x < 0 || y < 0 || x > master.width - 1.001 || y > master.height - 1.001) return -1;
  const int ix = static_cast<int>(x), iy = static_cast<int>(y);
  const auto fx = static_cast<float>(x - ix), fy = static_cast<float>(y - iy);
  auto at = [&](int px, int py) {
    return master.ridges[static_cast<std::size_t>(py) * static_cast<std::size_t>(master.width) + static_cast<std::size_t>(px)];
  };
  const float top = at(ix, iy) + (at(ix + 1, iy) - at(ix, iy)) * fx;
  const float bottom = at(ix, iy + 1) + (at(ix + 1, iy + 1) - at(ix, iy + 1)) * fx;
  return top + (bottom - top) * fy;
}

/// `sum` plus one row of a Gabor kernel times one row of the image (GaborBank::kSide values each).
/// Ridge growth spends nearly all its time here, and instrumenting every load (the sanitizer
/// build) stops vectorisation: the slowest synthetic-finger test took 45 s under ASan instead of
/// 16 s. So sanitizers skip this loop; grow_ridges asserts each window lies inside its image.
[[gnu::no_sanitize("address", "undefined")]] float add_kernel_row(float sum, const float* weights, const float* row) {
#pragma omp simd reduction(+ : sum)
  for (int kx = 0; kx < GaborBank::kSide; ++kx) sum += weights[kx] * row[kx];
  return sum;
}

/// Grows ridges from a few random seeds: each round filters the image with the Gabor kernel of
/// the local direction and period and saturates the result, so ridges spread from the seeds and
/// where fronts of different phase meet, minutiae form (as they do in embryonic skin).
std::vector<float> grow_ridges(const MasterPrint& master, const OrientationModel& model, const SmoothNoise& density,
                               double period_mm, Random& random) {
  const GaborBank& bank = gabor_bank();
  constexpr int pad = GaborBank::kRadius;
  constexpr int padded_width = kMasterWidth + 2 * pad, padded_height = kMasterHeight + 2 * pad;
  // Only the fingertip and a margin round it are grown (-1 = not grown).
  std::vector<int> kernel_of(static_cast<std::size_t>(kMasterWidth) * kMasterHeight, -1);
  for (int y = 0; y < kMasterHeight; ++y) {
    for (int x = 0; x < kMasterWidth; ++x) {
      if (outline_value(master, x / kPixelsPerMm, y / kPixelsPerMm) > 1.4) continue;
      const double period = period_mm * kPixelsPerMm * (1 + 0.15 * density.at(x, y));
      kernel_of[static_cast<std::size_t>(y) * kMasterWidth + x] = GaborBank::index(model.angle(x, y), period);
    }
  }
  std::vector<float> current(static_cast<std::size_t>(padded_width) * padded_height, 0.0f);
  auto padded = [&](int x, int y) -> float& {
    return current[static_cast<std::size_t>(y + pad) * padded_width + static_cast<std::size_t>(x + pad)];
  };
  const int seeds = 70 + static_cast<int>(random.uniform() * 50);
  for (int s = 0; s < seeds; ++s) {
    const int sx = static_cast<int>(random.uniform(0, kMasterWidth - 2)), sy = static_cast<int>(random.uniform(0, kMasterHeight - 2));
    const float sign = random.uniform() < 0.5 ? -1.0f : 1.0f;
    for (int dy = 0; dy < 2; ++dy) {
      for (int dx = 0; dx < 2; ++dx) padded(sx + dx, sy + dy) = sign;
    }
  }
  // Blocks that hold, or border on, something non-zero: elsewhere a round gives zero anyway,
  // which makes the early rounds (fronts still spreading) cheap.
  constexpr int kBlock = pad;
  constexpr int block_columns = (kMasterWidth + kBlock - 1) / kBlock, block_rows = (kMasterHeight + kBlock - 1) / kBlock;
  std::vector<std::uint8_t> lit(static_cast<std::size_t>(block_columns) * block_rows), active = lit;
  std::vector<float> next = current;
  constexpr int kRounds = 22;
  constexpr float kGain = 2.5f;
  for (int round = 0; round < kRounds; ++round) {
    std::fill(lit.begin(), lit.end(), 0);
    for (int y = 0; y < kMasterHeight; ++y) {
      for (int x = 0; x < kMasterWidth; ++x) {
        if (padded(x, y) != 0) lit[static_cast<std::size_t>(y / kBlock) * block_columns + static_cast<std::size_t>(x / kBlock)] = 1;
      }
    }
    for (int by = 0; by < block_rows; ++by) {
      for (int bx = 0; bx < block_columns; ++bx) {
        std::uint8_t any = 0;
        for (int ny = std::max(0, by - 1); ny <= std::min(block_rows - 1, by + 1); ++ny) {
          for (int nx = std::max(0, bx - 1); nx <= std::min(block_columns - 1, bx + 1); ++nx) {
            any |= lit[static_cast<std::size_t>(ny) * block_columns + static_cast<std::size_t>(nx)];
          }
        }
        active[static_cast<std::size_t>(by) * block_columns + static_cast<std::size_t>(bx)] = any;
      }
    }
    for (int y = 0; y < kMasterHeight; ++y) {
      for (int x = 0; x < kMasterWidth; ++x) {
        const int which = kernel_of[static_cast<std::size_t>(y) * kMasterWidth + x];
        float sum = 0;
        if (which >= 0 && active[static_cast<std::size_t>(y / kBlock) * block_columns + static_cast<std::size_t>(x / kBlock)]) {
          const float* kernel = bank.kernel(which);
          assert(static_cast<std::size_t>(y + GaborBank::kSide - 1) * padded_width + static_cast<std::size_t>(x) +
                     GaborBank::kSide <= current.size());
          for (int ky = 0; ky < GaborBank::kSide; ++ky) {
            const float* row = &current[static_cast<std::size_t>(y + ky) * padded_width + static_cast<std::size_t>(x)];
            sum = add_kernel_row(sum, kernel + static_cast<std::ptrdiff_t>(ky) * GaborBank::kSide, row);
          }
        }
        next[static_cast<std::size_t>(y + pad) * padded_width + static_cast<std::size_t>(x + pad)] =
            std::clamp(kGain * sum, -1.0f, 1.0f);
      }
    }
    std::swap(current, next);
  }
  std::vector<float> ridges(static_cast<std::size_t>(kMasterWidth) * kMasterHeight);
  for (int y = 0; y < kMasterHeight; ++y) {
    for (int x = 0; x < kMasterWidth; ++x) ridges[static_cast<std::size_t>(y) * kMasterWidth + x] = padded(x, y);
  }
  return ridges;
}

/// Real skin is full of short ridges, enclosures and ridges that end beside a neighbour's fork:
/// pairs of minutiae a ridge period or two apart, facing each other or away, that no flow forces.
/// Grown ridges split and stop only where the flow makes them, all one way (a minutia and its
/// nearest neighbour pointed the same way in 81 % of pairs, against about half in real fingers),
/// so fingers of one class looked alike. Each planted pair is a pair of opposite phase vortices
/// (the AM-FM view of minutiae, Larkin and Fletcher): the ridges' local phase is read by
/// quadrature filtering and they are redrawn with the pair's phase added, so every planted
/// minutia keeps the ridge period and an extractor sees it as it would a grown one.
void plant_minutia_pairs(MasterPrint& master, const OrientationModel& model, const SmoothNoise& density,
                         double period_mm, Random& random) {
  constexpr double kPairsPerMm2 = 0.05;
  constexpr double kShortestSeparation = 1.2, kLongestSeparation = 2.5;  // ridge periods
  constexpr double kRedrawn = 2.5, kBlended = 4.5;  // ridge periods from the pair: all, then fading
  const GaborBank& bank = gabor_bank();
  constexpr int pad = GaborBank::kRadius;
  const int padded_width = master.width + 2 * pad;
  auto period_at = [&](double x, double y) { return period_mm * kPixelsPerMm * (1 + 0.15 * density.at(x, y)); };
  double finger_pixels = 0;
  for (const auto inside : master.finger) finger_pixels += inside;
  const int wanted = static_cast<int>(std::lround(kPairsPerMm2 * finger_pixels / (kPixelsPerMm * kPixelsPerMm)));
  std::vector<Point> placed;
  std::vector<float> before(static_cast<std::size_t>(padded_width) * static_cast<std::size_t>(master.height + 2 * pad), 0.0f);
  for (int attempt = 0; attempt < 50 * wanted && static_cast<int>(placed.size()) < wanted; ++attempt) {
    const Point centre{random.uniform(0, master.width - 1), random.uniform(0, master.height - 1)};
    const double turn = random.uniform(0, kPi), separation = random.uniform(kShortestSeparation, kLongestSeparation);
    const double period = period_at(centre.x, centre.y);
    if (outline_value(master, centre.x / kPixelsPerMm, centre.y / kPixelsPerMm) > 0.8) continue;
    bool crowded = false;
    for (const auto& point : model.cores) crowded |= std::hypot(point.x - centre.x, point.y - centre.y) < 3 * period;
    for (const auto& point : model.deltas) crowded |= std::hypot(point.x - centre.x, point.y - centre.y) < 3 * period;
    for (const auto& point : placed) crowded |= std::hypot(point.x - centre.x, point.y - centre.y) < 6 * period;
    if (crowded) continue;
    placed.push_back(centre);
    // Each pair reads the ridges as the pairs before it left them.
    for (int y = 0; y < master.height; ++y) {
      std::copy_n(&master.ridges[static_cast<std::size_t>(y) * master.width], master.width,
                  &before[static_cast<std::size_t>(y + pad) * padded_width + pad]);
    }
    const double theta = model.angle(centre.x, centre.y);
    const Point centre_normal = GaborBank::normal(GaborBank::index(theta, period));
    // The vortices lie `turn` from the ridge direction (image coordinates, y down).
    const double ux = std::cos(theta + turn), uy = -std::sin(theta + turn);
    const double half = 0.5 * separation * period;
    const Point first{centre.x - half * ux, centre.y - half * uy}, second{centre.x + half * ux, centre.y + half * uy};
    const double inner = kRedrawn * period, outer = kBlended * period;
    const int reach = static_cast<int>(outer + half) + 1;
    for (int y = std::max(0, static_cast<int>(centre.y) - reach); y < std::min(master.height, static_cast<int>(centre.y) + reach); ++y) {
      for (int x = std::max(0, static_cast<int>(centre.x) - reach); x < std::min(master.width, static_cast<int>(centre.x) + reach); ++x) {
        const double along = std::clamp((x - first.x) * ux + (y - first.y) * uy, 0.0, 2 * half);
        const double distance = std::hypot(x - (first.x + along * ux), y - (first.y + along * uy));
        if (distance >= outer) continue;
        const double weight = distance <= inner ? 1.0 : 0.5 * (1 + std::cos(kPi * (distance - inner) / (outer - inner)));
        const int which = GaborBank::index(model.angle(x, y), period_at(x, y));
        const Point normal = GaborBank::normal(which);
        float even = 0, odd = 0;
        for (int ky = 0; ky < GaborBank::kSide; ++ky) {
          const float* row = &before[static_cast<std::size_t>(y + ky) * padded_width + static_cast<std::size_t>(x)];
          even = add_kernel_row(even, bank.kernel(which) + static_cast<std::ptrdiff_t>(ky) * GaborBank::kSide, row);
          odd = add_kernel_row(odd, bank.odd_kernel(which) + static_cast<std::ptrdiff_t>(ky) * GaborBank::kSide, row);
        }
        // One sense across the ridges for the whole patch, or the phase would jump where the
        // kernels' normal turns over.
        if (normal.x * centre_normal.x + normal.y * centre_normal.y < 0) odd = -odd;
        const double phase = std::atan2(-odd, even);
        // The angle the segment between the vortices subtends: 2 pi round either, nothing far off.
        const double ax = first.x - x, ay = first.y - y, bx = second.x - x, by = second.y - y;
        const double vortices = std::atan2(ax * by - ay * bx, ax * bx + ay * by);
        master.ridges[static_cast<std::size_t>(y) * master.width + x] =
            static_cast<float>(std::clamp(2.5 * std::cos(phase + weight * vortices), -1.0, 1.0));
      }
    }
  }
}

/// Ground truth as an examiner would mark it on the clean master: skeleton endings and
/// bifurcations well inside the outline, directed by the orientation model (an ending points
/// into its ridge, a bifurcation between its branches).
std::vector<finger::Minutia> find_minutiae(const MasterPrint& master, const OrientationModel& model, double period_px) {
  finger::BinaryImage ridges(master.width, master.height);
  for (std::size_t i = 0; i < ridges.values.size(); ++i) ridges.values[i] = master.finger[i] && master.ridges[i] > 0;
  finger::BinaryImage skeleton = ridges;
  finger::thin_ridges(skeleton);
  struct Found {
    int x, y;
    double angle;
    finger::MinutiaType type;
    bool dropped = false;
  };
  std::vector<Found> found;
  const double inner_a = master.ellipse_a_mm - 1.0, inner_b = master.ellipse_b_mm - 1.0;
  for (int y = 1; y < master.height - 1; ++y) {
    for (int x = 1; x < master.width - 1; ++x) {
      if (!skeleton.at(x, y)) continue;
      const int cn = finger::crossing_number(skeleton, x, y);
      if (cn != 1 && cn != 3) continue;
      const double x_mm = x / kPixelsPerMm, y_mm = y / kPixelsPerMm;
      const double u = (x_mm - master.centre_x_mm) / inner_a, v = (y_mm - master.centre_y_mm) / inner_b;
      if (u * u + v * v > 1) continue;
      bool near_singularity = false;
      for (const auto& point : model.cores) near_singularity |= std::hypot(point.x - x, point.y - y) < period_px;
      for (const auto& point : model.deltas) near_singularity |= std::hypot(point.x - x, point.y - y) < period_px;
      if (near_singularity) continue;
      const double theta = model.angle(x, y);
      const double reach = 0.6 * period_px;
      const int ahead = ridges.sample(static_cast<int>(std::lround(x + reach * std::cos(theta))),
                                      static_cast<int>(std::lround(y - reach * std::sin(theta))));
      const int behind = ridges.sample(static_cast<int>(std::lround(x - reach * std::cos(theta))),
                                       static_cast<int>(std::lround(y + reach * std::sin(theta))));
      if (ahead == behind) continue;  // no clear side: not a clean minutia
      const auto type = cn == 1 ? finger::MinutiaType::ending : finger::MinutiaType::bifurcation;
      // An ending continues as ridge ahead; a bifurcation opens into a valley ahead.
      const bool forwards = (type == finger::MinutiaType::ending) == (ahead == 1);
      found.push_back({x, y, forwards ? theta : theta + kPi, type});
    }
  }
  // Pairs closer than half a ridge period are specks and nicks of the growth, not features.
  for (std::size_t i = 0; i < found.size(); ++i) {
    for (std::size_t j = i + 1; j < found.size(); ++j) {
      if (std::hypot(found[i].x - found[j].x, found[i].y - found[j].y) < 0.5 * period_px) {
        found[i].dropped = found[j].dropped = true;
      }
    }
  }
  std::vector<finger::Minutia> minutiae;
  for (const auto& minutia : found) {
    if (minutia.dropped) continue;
    double angle = std::fmod(minutia.angle, 2 * kPi);
    if (angle < 0) angle += 2 * kPi;
    minutiae.push_back({minutia.x / kPixelsPerMm, minutia.y / kPixelsPerMm, angle, minutia.type, 1.0});
  }
  return minutiae;
}

/// Where a point of the master lands on the sensor: an elastic shift that grows from nothing
/// at the contact's centre to a rigid move at its edge (Cappelli's plastic distortion model),
/// then the pose (rotation about the image centre and a shift). Millimetres.
struct Pose {
  Point canvas_centre;
  double rotation = 0, shift_x = 0, shift_y = 0;
  Point contact;
  double locked_radius = 2, free_radius = 8;
  double twist = 0, drag_x = 0, drag_y = 0;

  [[nodiscard]] double brake(Point m) const {
    const double r = std::hypot(m.x - contact.x, m.y - contact.y);
    if (r <= locked_radius) return 0;
    if (r >= free_radius) return 1;
    return 0.5 * (1 - std::cos(kPi * (r - locked_radius) / (free_radius - locked_radius)));
  }
  [[nodiscard]] Point elastic_offset(Point m, double weight) const {
    const double c = std::cos(twist), s = std::sin(twist);
    const double rx = m.x - contact.x, ry = m.y - contact.y;
    return {weight * (c * rx - s * ry + contact.x + drag_x - m.x), weight * (s * rx + c * ry + contact.y + drag_y - m.y)};
  }
  [[nodiscard]] Point to_sensor(Point m) const {
    const Point offset = elastic_offset(m, brake(m));
    const double qx = m.x + offset.x - canvas_centre.x, qy = m.y + offset.y - canvas_centre.y;
    const double c = std::cos(rotation), s = std::sin(rotation);
    return {c * qx - s * qy + canvas_centre.x + shift_x, s * qx + c * qy + canvas_centre.y + shift_y};
  }
  [[nodiscard]] Point to_master(Point p) const {
    const double c = std::cos(rotation), s = std::sin(rotation);
    const double ux = p.x - canvas_centre.x - shift_x, uy = p.y - canvas_centre.y - shift_y;
    const Point q{c * ux + s * uy + canvas_centre.x, -s * ux + c * uy + canvas_centre.y};
    // The elastic map is close to the identity: a few fixed-point steps invert it.
    Point m = q;
    for (int step = 0; step < 6; ++step) {
      const Point offset = elastic_offset(m, brake(m));
      m = {q.x - offset.x, q.y - offset.y};
    }
    return m;
  }
};

}  // namespace

std::string_view pattern_name(Pattern pattern) {
  switch (pattern) {
    case Pattern::arch: return "arch";
    case Pattern::tented_arch: return "tented_arch";
    case Pattern::left_loop: return "left_loop";
    case Pattern::right_loop: return "right_loop";
    case Pattern::whorl: return "whorl";
  }
  return "unknown";
}

double MasterPrint::width_mm() const { return width / kPixelsPerMm; }
double MasterPrint::height_mm() const { return height / kPixelsPerMm; }

std::uint64_t derive_seed(std::uint64_t set_seed, std::uint64_t finger, std::uint64_t impression) {
  Random random(set_seed ^ (finger * 0x9E3779B97F4A7C15ull) ^ (impression * 0xD1B54A32D192ED03ull));
  random.next();
  return random.next();
}

MasterPrint make_master(std::uint64_t seed) {
  Random random(seed);
  MasterPrint master;
  master.width = kMasterWidth;
  master.height = kMasterHeight;
  master.pattern = draw_pattern(random);
  master.ellipse_a_mm = random.uniform(6.8, 8.2);
  master.ellipse_b_mm = random.uniform(9.5, 11.0);
  master.centre_x_mm = master.width_mm() / 2 + random.uniform(-0.4, 0.4);
  master.centre_y_mm = master.height_mm() / 2 + random.uniform(-0.4, 0.4);
  master.finger.resize(static_cast<std::size_t>(master.width) * master.height);
  for (int y = 0; y < master.height; ++y) {
    for (int x = 0; x < master.width; ++x) {
      master.finger[static_cast<std::size_t>(y) * master.width + x] =
          outline_value(master, x / kPixelsPerMm, y / kPixelsPerMm) <= 1.0;
    }
  }
  const Point centre{master.centre_x_mm * kPixelsPerMm, master.centre_y_mm * kPixelsPerMm};
  const OrientationModel model = make_orientation(master.pattern, random, centre);
  const double period_mm = random.uniform(0.40, 0.56);
  const SmoothNoise density(random, master.width, master.height, 3.0 * kPixelsPerMm);
  master.ridges = grow_ridges(master, model, density, period_mm, random);
  plant_minutia_pairs(master, model, density, period_mm, random);
  master.minutiae = find_minutiae(master, model, period_mm * kPixelsPerMm);
  return master;
}

Impression make_impression(const MasterPrint& master, std::uint64_t seed, double dpi, const ImpressionVariation& variation) {
  Random random(seed);
  const double d = std::max(0.0, variation.difficulty);
  Impression impression;
  Pose pose;
  pose.canvas_centre = {master.width_mm() / 2, master.height_mm() / 2};
  pose.rotation = random.uniform(-1, 1) * d * 12.0 * kPi / 180;
  pose.shift_x = random.uniform(-1, 1) * d * 1.5;
  pose.shift_y = random.uniform(-1, 1) * d * 1.5;
  pose.contact = {master.centre_x_mm + random.uniform(-1, 1) * d * 1.2, master.centre_y_mm + random.uniform(-1, 1) * d * 1.2};
  const double contact_scale = 1 - random.uniform(0, 0.15) * std::min(d, 2.0);
  const double contact_a = master.ellipse_a_mm * contact_scale, contact_b = master.ellipse_b_mm * contact_scale;
  pose.locked_radius = random.uniform(1.5, 3.0);
  pose.free_radius = pose.locked_radius + random.uniform(4.0, 7.0);
  const double drag = random.uniform(0, 0.5) * d, drag_direction = random.uniform(0, 2 * kPi);
  pose.drag_x = drag * std::cos(drag_direction);
  pose.drag_y = drag * std::sin(drag_direction);
  pose.twist = random.uniform(-1, 1) * d * 3.0 * kPi / 180;
  impression.rotation_rad = pose.rotation;
  impression.shift_x_mm = pose.shift_x;
  impression.shift_y_mm = pose.shift_y;
  impression.distortion_mm = drag;
  impression.moisture = std::clamp(random.uniform(-0.5, 0.5) * d, -1.0, 1.0);

  // How firmly each point of the master touches: 1 inside the contact, fading at its edge.
  auto contact_weight = [&](Point m) {
    const double u = (m.x - pose.contact.x) / contact_a, v = (m.y - pose.contact.y) / contact_b;
    const double inside_contact = std::clamp((1 - (u * u + v * v)) / 0.15, 0.0, 1.0);
    const double inside_finger = std::clamp((1 - outline_value(master, m.x, m.y)) / 0.1, 0.0, 1.0);
    return inside_contact * inside_finger;
  };

  const double pixels_per_mm = dpi / 25.4;
  const int width = static_cast<int>(std::lround(master.width_mm() * pixels_per_mm));
  const int height = static_cast<int>(std::lround(master.height_mm() * pixels_per_mm));
  const double background = random.uniform(215, 245);
  const double contrast = random.uniform(140, 200);
  const double sharpness = random.uniform(5, 8);
  const double noise_level = random.uniform(3, 6) + 4 * d;
  const double moisture = impression.moisture;
  const SmoothNoise pressure(random, width, height, 4.0 * pixels_per_mm);
  const SmoothNoise skin(random, width, height, 0.35 * pixels_per_mm);
  const SmoothNoise pores(random, width, height, 0.2 * pixels_per_mm);
  std::vector<double> grey(static_cast<std::size_t>(width) * height, background);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const Point m = pose.to_master({(x + 0.5) / pixels_per_mm, (y + 0.5) / pixels_per_mm});
      const double weight = contact_weight(m);
      if (weight <= 0) continue;
      const double ridge = sample_ridges(master, m.x * kPixelsPerMm, m.y * kPixelsPerMm);
      // Dry skin prints thin, broken ridges; wet skin thick ones that fill valleys in patches.
      double ink = 1 / (1 + std::exp(-sharpness * (ridge + 0.35 * moisture)));
      if (moisture < 0) ink *= std::clamp(1 + 1.5 * moisture * std::max(0.0, skin.at(x, y) - 0.1), 0.0, 1.0);
      if (moisture > 0) ink = std::max(ink, moisture * std::clamp((skin.at(x, y) - 0.3) * 3, 0.0, 1.0));
      ink *= 1 - 0.25 * std::max(0.0, pores.at(x, y) - 0.5);
      const double press = std::clamp(1 + 0.15 * pressure.at(x, y), 0.0, 1.2);
      grey[static_cast<std::size_t>(y) * width + x] = background - contrast * ink * weight * press;
    }
  }
  impression.image = GrayImage(width, height, dpi);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      // The optics blur a little (a 3 x 3 binomial), then the sensor adds its noise.
      double sum = 0;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int sx = std::clamp(x + dx, 0, width - 1), sy = std::clamp(y + dy, 0, height - 1);
          sum += (dx == 0 ? 2 : 1) * (dy == 0 ? 2 : 1) * grey[static_cast<std::size_t>(sy) * width + sx];
        }
      }
      const double value = sum / 16 + noise_level * random.normal();
      impression.image.at(x, y) = static_cast<std::uint8_t>(std::clamp(std::lround(value), 0L, 255L));
    }
  }

  for (const auto& minutia : master.minutiae) {
    const Point m{minutia.x_mm, minutia.y_mm};
    if (contact_weight(m) < 0.9) continue;
    const Point at = pose.to_sensor(m);
    if (at.x < 0.3 || at.y < 0.3 || at.x > master.width_mm() - 0.3 || at.y > master.height_mm() - 0.3) continue;
    const Point towards = pose.to_sensor({m.x + 0.2 * std::cos(minutia.angle_rad), m.y - 0.2 * std::sin(minutia.angle_rad)});
    double angle = std::atan2(-(towards.y - at.y), towards.x - at.x);
    if (angle < 0) angle += 2 * kPi;
    impression.minutiae.push_back({at.x, at.y, angle, minutia.type, 1.0});
  }
  return impression;
}

}  // namespace sdbox::fingersynth
