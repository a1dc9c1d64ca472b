#include "finger/minutiae_extractor.hpp"

#include "finger/minutia_rules.hpp"

#include "sdbox/common/ridge_skeleton.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <queue>
#include <utility>

namespace sdbox::firmware {

namespace {

constexpr float kPi = std::numbers::pi_v<float>;

/// Element `i` of a buffer indexed with signed arithmetic.
template <class Buffer>
auto& tap(Buffer& buffer, int i) {
  return buffer[static_cast<std::size_t>(i)];
}

/// A float image; reads outside are clamped to the edge.
struct Field {
  int width = 0;
  int height = 0;
  std::vector<float> values;

  Field() = default;
  Field(int w, int h, float fill = 0) : width(w), height(h), values(static_cast<std::size_t>(w) * h, fill) {}
  float& at(int x, int y) { return values[static_cast<std::size_t>(y) * width + x]; }
  [[nodiscard]] float at(int x, int y) const { return values[static_cast<std::size_t>(y) * width + x]; }
  [[nodiscard]] float clamped(int x, int y) const {
    return at(std::clamp(x, 0, width - 1), std::clamp(y, 0, height - 1));
  }
  [[nodiscard]] float bilinear(float x, float y) const {
    x = std::clamp(x, 0.0f, static_cast<float>(width - 1));
    y = std::clamp(y, 0.0f, static_cast<float>(height - 1));
    const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
    const int x1 = std::min(x0 + 1, width - 1), y1 = std::min(y0 + 1, height - 1);
    const float fx = x - static_cast<float>(x0), fy = y - static_cast<float>(y0);
    const float top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
    const float bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
    return top + (bottom - top) * fy;
  }
};

using Mask = finger::BinaryImage;
using finger::crossing_number;

Field resample(const GrayImage& image, double scale) {
  const int width = std::max(1, static_cast<int>(std::lround(image.width * scale)));
  const int height = std::max(1, static_cast<int>(std::lround(image.height * scale)));
  Field source(image.width, image.height);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) source.values[i] = image.pixels[i];
  if (std::abs(scale - 1.0) < 1e-3) return source;
  Field out(width, height);
  const float inverse = static_cast<float>(1.0 / scale);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) out.at(x, y) = source.bilinear(static_cast<float>(x) * inverse, static_cast<float>(y) * inverse);
  }
  return out;
}

std::vector<float> gaussian_kernel(double sigma) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<float> kernel(static_cast<std::size_t>(2 * radius + 1));
  float sum = 0;
  for (int i = -radius; i <= radius; ++i) {
    tap(kernel, i + radius) = static_cast<float>(std::exp(-i * i / (2 * sigma * sigma)));
    sum += tap(kernel, i + radius);
  }
  for (auto& k : kernel) k /= sum;
  return kernel;
}

/// Running-sum box filter of radius r along rows (horizontal) or columns, edges clamped.
Field box(const Field& in, int r, bool horizontal) {
  Field out(in.width, in.height);
  const int length = horizontal ? in.width : in.height;
  const int lines = horizontal ? in.height : in.width;
  const float scale = 1.0f / static_cast<float>(2 * r + 1);
  for (int line = 0; line < lines; ++line) {
    auto value = [&](int i) {
      i = std::clamp(i, 0, length - 1);
      return horizontal ? in.at(i, line) : in.at(line, i);
    };
    float sum = 0;
    for (int i = -r; i <= r; ++i) sum += value(i);
    for (int i = 0; i < length; ++i) {
      (horizontal ? out.at(i, line) : out.at(line, i)) = sum * scale;
      sum += value(i + r + 1) - value(i - r);
    }
  }
  return out;
}

Field blur(const Field& in, double sigma);

/// Three box passes approximate a Gaussian at a cost independent of sigma.
Field fast_blur(const Field& in, double sigma) {
  if (sigma < 2.0) return blur(in, sigma);
  // Box radius whose threefold convolution has variance sigma^2: 3 * ((2r+1)^2 - 1) / 12.
  const int r = std::max(1, static_cast<int>(std::lround((std::sqrt(4.0 * sigma * sigma + 1.0) - 1.0) / 2.0)));
  Field out = in;
  for (int pass = 0; pass < 3; ++pass) out = box(box(out, r, true), r, false);
  return out;
}

Field blur(const Field& in, double sigma) {
  const auto kernel = gaussian_kernel(sigma);
  const int radius = static_cast<int>(kernel.size() / 2);
  Field horizontal(in.width, in.height), out(in.width, in.height);
  for (int y = 0; y < in.height; ++y) {
    for (int x = 0; x < in.width; ++x) {
      float sum = 0;
      for (int k = -radius; k <= radius; ++k) sum += tap(kernel, k + radius) * in.clamped(x + k, y);
      horizontal.at(x, y) = sum;
    }
  }
  for (int y = 0; y < in.height; ++y) {
    for (int x = 0; x < in.width; ++x) {
      float sum = 0;
      for (int k = -radius; k <= radius; ++k) sum += tap(kernel, k + radius) * horizontal.clamped(x, y + k);
      out.at(x, y) = sum;
    }
  }
  return out;
}

/// Local contrast normalisation: zero local mean, unit local deviation.
Field normalise(const Field& image) {
  Field squared(image.width, image.height);
  for (std::size_t i = 0; i < image.values.size(); ++i) squared.values[i] = image.values[i] * image.values[i];
  const Field mean = fast_blur(image, 8.0);
  const Field mean_squared = fast_blur(squared, 8.0);
  Field out(image.width, image.height);
  for (std::size_t i = 0; i < image.values.size(); ++i) {
    const float variance = std::max(0.0f, mean_squared.values[i] - mean.values[i] * mean.values[i]);
    out.values[i] = (image.values[i] - mean.values[i]) / std::sqrt(variance + 25.0f);
  }
  return out;
}

/// The value a tenth of `values` (not empty) lie above: a capture's clearest parts, outliers aside.
float upper_decile(std::vector<float> values) {
  const auto at = values.begin() + static_cast<std::ptrdiff_t>(values.size() * 9 / 10);
  std::nth_element(values.begin(), at, values.end());
  return *at;
}

/// Foreground blocks: enough grey-level variation; then cleaned (majority, holes, largest part).
Mask segment(const Field& image, int block) {
  const int bw = (image.width + block - 1) / block, bh = (image.height + block - 1) / block;
  std::vector<float> deviation(static_cast<std::size_t>(bw) * bh);
  for (int by = 0; by < bh; ++by) {
    for (int bx = 0; bx < bw; ++bx) {
      double sum = 0, sum_squared = 0;
      int count = 0;
      for (int y = by * block; y < std::min(image.height, (by + 1) * block); ++y) {
        for (int x = bx * block; x < std::min(image.width, (bx + 1) * block); ++x) {
          sum += image.at(x, y);
          sum_squared += image.at(x, y) * image.at(x, y);
          ++count;
        }
      }
      const double mean = sum / count;
      deviation[static_cast<std::size_t>(by) * bw + bx] = static_cast<float>(std::sqrt(std::max(0.0, sum_squared / count - mean * mean)));
    }
  }
  const float high = upper_decile(deviation);
  const float threshold = std::max(6.0f, 0.3f * high);
  Mask blocks(bw, bh);
  for (int i = 0; i < bw * bh; ++i) blocks.values[static_cast<std::size_t>(i)] = deviation[static_cast<std::size_t>(i)] > threshold;

  // Majority filter, twice.
  for (int pass = 0; pass < 2; ++pass) {
    Mask next = blocks;
    for (int y = 0; y < bh; ++y) {
      for (int x = 0; x < bw; ++x) {
        int votes = 0, total = 0;
        for (int dy = -1; dy <= 1; ++dy) {
          for (int dx = -1; dx <= 1; ++dx) {
            if (!blocks.inside(x + dx, y + dy)) continue;
            votes += blocks.at(x + dx, y + dy);
            ++total;
          }
        }
        next.at(x, y) = votes * 2 > total;
      }
    }
    blocks = next;
  }
  // Keep the largest connected part, and fill the holes in it.
  Mask label(bw, bh);
  int best_label = 0, best_size = 0, current = 0;
  std::vector<int> labels(static_cast<std::size_t>(bw) * bh, 0);
  for (int start = 0; start < bw * bh; ++start) {
    if (!blocks.values[static_cast<std::size_t>(start)] || labels[static_cast<std::size_t>(start)] != 0) continue;
    ++current;
    int size = 0;
    std::queue<int> queue;
    queue.push(start);
    labels[static_cast<std::size_t>(start)] = current;
    while (!queue.empty()) {
      const int at = queue.front();
      queue.pop();
      ++size;
      const int x = at % bw, y = at / bw;
      for (auto [dx, dy] : {std::pair{1, 0}, std::pair{-1, 0}, std::pair{0, 1}, std::pair{0, -1}}) {
        if (!blocks.inside(x + dx, y + dy)) continue;
        const int next = (y + dy) * bw + x + dx;
        if (!blocks.values[static_cast<std::size_t>(next)] || labels[static_cast<std::size_t>(next)] != 0) continue;
        labels[static_cast<std::size_t>(next)] = current;
        queue.push(next);
      }
    }
    if (size > best_size) {
      best_size = size;
      best_label = current;
    }
  }
  Mask outside(bw, bh);  // background reachable from the border
  std::queue<int> queue;
  for (int y = 0; y < bh; ++y) {
    for (int x = 0; x < bw; ++x) {
      const bool border = x == 0 || y == 0 || x == bw - 1 || y == bh - 1;
      if (border && labels[static_cast<std::size_t>(y) * bw + x] != best_label) {
        outside.at(x, y) = 1;
        queue.push(y * bw + x);
      }
    }
  }
  while (!queue.empty()) {
    const int at = queue.front();
    queue.pop();
    const int x = at % bw, y = at / bw;
    for (auto [dx, dy] : {std::pair{1, 0}, std::pair{-1, 0}, std::pair{0, 1}, std::pair{0, -1}}) {
      if (!blocks.inside(x + dx, y + dy) || outside.at(x + dx, y + dy)) continue;
      if (labels[static_cast<std::size_t>(y + dy) * bw + x + dx] == best_label) continue;
      outside.at(x + dx, y + dy) = 1;
      queue.push((y + dy) * bw + x + dx);
    }
  }
  Mask mask(image.width, image.height);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) mask.at(x, y) = best_size > 0 && !outside.at(x / block, y / block);
  }
  return mask;
}

/// Distance (in pixels, chamfer 3-4) from each pixel to the nearest background pixel.
Field distance_to_background(const Mask& mask) {
  Field distance(mask.width, mask.height, 1e6f);
  for (int y = 0; y < mask.height; ++y) {
    for (int x = 0; x < mask.width; ++x) {
      const bool edge = x == 0 || y == 0 || x == mask.width - 1 || y == mask.height - 1;
      if (!mask.at(x, y) || edge) distance.at(x, y) = 0;
    }
  }
  auto relax = [&](int x, int y, int dx, int dy, float cost) {
    if (mask.inside(x + dx, y + dy)) distance.at(x, y) = std::min(distance.at(x, y), distance.at(x + dx, y + dy) + cost);
  };
  for (int y = 0; y < mask.height; ++y) {
    for (int x = 0; x < mask.width; ++x) {
      relax(x, y, -1, 0, 3), relax(x, y, 0, -1, 3), relax(x, y, -1, -1, 4), relax(x, y, 1, -1, 4);
    }
  }
  for (int y = mask.height - 1; y >= 0; --y) {
    for (int x = mask.width - 1; x >= 0; --x) {
      relax(x, y, 1, 0, 3), relax(x, y, 0, 1, 3), relax(x, y, 1, 1, 4), relax(x, y, -1, 1, 4);
    }
  }
  for (auto& d : distance.values) d /= 3.0f;
  return distance;
}

struct OrientationField {
  Field angle;      ///< ridge direction, radians in [0, pi), y-down frame
  Field coherence;  ///< 0..1
};

OrientationField orientation(const Field& image, double sigma) {
  Field gxx(image.width, image.height), gxy(image.width, image.height), energy(image.width, image.height);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      const float gx = (image.clamped(x + 1, y - 1) + 2 * image.clamped(x + 1, y) + image.clamped(x + 1, y + 1)) -
                       (image.clamped(x - 1, y - 1) + 2 * image.clamped(x - 1, y) + image.clamped(x - 1, y + 1));
      const float gy = (image.clamped(x - 1, y + 1) + 2 * image.clamped(x, y + 1) + image.clamped(x + 1, y + 1)) -
                       (image.clamped(x - 1, y - 1) + 2 * image.clamped(x, y - 1) + image.clamped(x + 1, y - 1));
      gxx.at(x, y) = gx * gx - gy * gy;
      gxy.at(x, y) = 2 * gx * gy;
      energy.at(x, y) = gx * gx + gy * gy;
    }
  }
  gxx = fast_blur(gxx, sigma);
  gxy = fast_blur(gxy, sigma);
  energy = fast_blur(energy, sigma);
  OrientationField field{Field(image.width, image.height), Field(image.width, image.height)};
  for (std::size_t i = 0; i < gxx.values.size(); ++i) {
    // The gradient's doubled angle; ridges run perpendicular to it.
    float ridge = 0.5f * std::atan2(gxy.values[i], gxx.values[i]) + kPi / 2;
    if (ridge >= kPi) ridge -= kPi;
    field.angle.values[i] = ridge;
    field.coherence.values[i] =
        energy.values[i] > 1e-6f ? std::hypot(gxx.values[i], gxy.values[i]) / energy.values[i] : 0.0f;
  }
  return field;
}

/// The wave a signature is compared with: cos and sin of one candidate period over its samples,
/// and the inverse of the least-squares normal matrix of (1, cos, sin), the same for every block.
struct PeriodCandidate {
  double period;
  std::vector<double> cosine, sine;
  std::array<std::array<double, 3>, 3> inverse_normal{};
};

PeriodCandidate make_period_candidate(double period, std::size_t length) {
  PeriodCandidate wave{period, std::vector<double>(length), std::vector<double>(length), {}};
  std::array<std::array<double, 3>, 3> normal{};
  for (std::size_t k = 0; k < length; ++k) {
    wave.cosine[k] = std::cos(2 * std::numbers::pi * static_cast<double>(k) / period);
    wave.sine[k] = std::sin(2 * std::numbers::pi * static_cast<double>(k) / period);
    const std::array<double, 3> basis{1.0, wave.cosine[k], wave.sine[k]};
    for (std::size_t i = 0; i < 3; ++i) {
      for (std::size_t j = 0; j < 3; ++j) normal.at(i).at(j) += basis.at(i) * basis.at(j);
    }
  }
  // Adjugate over determinant; candidates span at least 32 / 15 periods, so the matrix is regular.
  const auto& m = normal;
  const double determinant = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                             m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                             m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 3; ++j) {
      const std::size_t r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
      wave.inverse_normal.at(i).at(j) =
          (m.at(r0).at(c0) * m.at(r1).at(c1) - m.at(r0).at(c1) * m.at(r1).at(c0)) / determinant;
    }
  }
  return wave;
}

/// How much of `signature`'s variance a + b cos + c sin at the candidate's period explains (least
/// squares). Counting peaks instead reads pores and the dots of dry skin as ridges and finds
/// periods too short; a short signature holds only three or four ridges, too few for a plain
/// spectrum to be unbiased.
double explained_by(const std::vector<float>& signature, const PeriodCandidate& wave) {
  std::array<double, 3> projection{};
  for (std::size_t k = 0; k < signature.size(); ++k) {
    projection[0] += signature[k];
    projection[1] += wave.cosine[k] * signature[k];
    projection[2] += wave.sine[k] * signature[k];
  }
  double explained = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 3; ++j) explained += projection.at(i) * wave.inverse_normal.at(i).at(j) * projection.at(j);
  }
  // Less what the mean alone explains.
  return explained - projection[0] * projection[0] / static_cast<double>(signature.size());
}

/// Ridge period (pixels) per block: the period of the sinusoid that best fits the oriented
/// x-signature across the ridges; smoothed and filled in.
Field ridge_period(const Field& image, const OrientationField& field, const Mask& mask, int block) {
  const int bw = (image.width + block - 1) / block, bh = (image.height + block - 1) / block;
  Field period(bw, bh, 0);
  constexpr int kLength = 32;
  constexpr int kWidth = 16;
  std::vector<PeriodCandidate> waves;
  for (int eighths = 4 * 8; eighths <= 15 * 8; ++eighths) {  // 4 to 15 px in steps of 1/8
    waves.push_back(make_period_candidate(eighths / 8.0, kLength));
  }
  std::vector<float> signature(kLength);
  for (int by = 0; by < bh; ++by) {
    for (int bx = 0; bx < bw; ++bx) {
      const int cx = std::min(image.width - 1, bx * block + block / 2);
      const int cy = std::min(image.height - 1, by * block + block / 2);
      if (!mask.at(cx, cy)) continue;
      const float ridge = field.angle.at(cx, cy);
      const float dx = std::cos(ridge), dy = std::sin(ridge);
      const float nx = -dy, ny = dx;
      for (int k = 0; k < kLength; ++k) {
        float sum = 0;
        for (int j = 0; j < kWidth; ++j) {
          const float along = static_cast<float>(j) - static_cast<float>(kWidth) / 2;
          const float across = static_cast<float>(k) - static_cast<float>(kLength) / 2;
          sum += image.bilinear(static_cast<float>(cx) + along * dx + across * nx, static_cast<float>(cy) + along * dy + across * ny);
        }
        tap(signature, k) = sum / kWidth;
      }
      double best = 0;
      for (const auto& wave : waves) {
        const double explained = explained_by(signature, wave);
        if (explained > best) {
          best = explained;
          period.at(bx, by) = static_cast<float>(wave.period);
        }
      }
    }
  }
  // Fill unknown blocks from known neighbours, then smooth.
  for (int pass = 0; pass < 8; ++pass) {
    Field next = period;
    for (int y = 0; y < bh; ++y) {
      for (int x = 0; x < bw; ++x) {
        if (period.at(x, y) > 0) continue;
        float sum = 0;
        int count = 0;
        for (int dy = -1; dy <= 1; ++dy) {
          for (int dx = -1; dx <= 1; ++dx) {
            const float v = period.clamped(x + dx, y + dy);
            if (v > 0) {
              sum += v;
              ++count;
            }
          }
        }
        if (count > 0) next.at(x, y) = sum / static_cast<float>(count);
      }
    }
    period = next;
  }
  for (auto& v : period.values) {
    if (v <= 0) v = 9.0f;
  }
  return blur(period, 1.0);
}

/// Oriented enhancement: a Gabor-like band-pass across the ridges after smoothing along them,
/// as two 1-D passes (much cheaper than a 2-D kernel, nearly the same effect).
Field enhance(const Field& image, const OrientationField& field, const Field& period, const Mask& mask, int block,
              double along_sigma) {
  constexpr int kAngleBins = 64;
  std::array<float, kAngleBins> cosines{}, sines{};
  for (int i = 0; i < kAngleBins; ++i) {
    cosines[static_cast<std::size_t>(i)] = std::cos(static_cast<float>(i) * kPi / kAngleBins);
    sines[static_cast<std::size_t>(i)] = std::sin(static_cast<float>(i) * kPi / kAngleBins);
  }
  auto bin_of = [&](float angle) {
    return static_cast<std::size_t>(std::lround(angle / kPi * kAngleBins) % kAngleBins);
  };
  const auto along = gaussian_kernel(along_sigma);
  const int along_radius = static_cast<int>(along.size() / 2);

  Field smoothed(image.width, image.height);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      if (!mask.at(x, y)) continue;
      const std::size_t bin = bin_of(field.angle.at(x, y));
      float sum = 0;
      for (int t = -along_radius; t <= along_radius; ++t) {
        sum += tap(along, t + along_radius) *
               image.bilinear(static_cast<float>(x) + static_cast<float>(t) * cosines[bin], static_cast<float>(y) + static_cast<float>(t) * sines[bin]);
      }
      smoothed.at(x, y) = sum;
    }
  }
  // Band-pass kernels for periods 4..15 px in half-pixel steps.
  constexpr int kPeriodBins = 23;
  std::array<std::vector<float>, kPeriodBins> across;
  for (int p = 0; p < kPeriodBins; ++p) {
    const float lambda = 4.0f + 0.5f * static_cast<float>(p);
    // Narrow enough across the ridges to keep a fork or an end that lies between two of them.
    const float sigma = 0.28f * lambda;
    const int radius = static_cast<int>(std::ceil(2.5f * sigma));
    std::vector<float> kernel(static_cast<std::size_t>(2 * radius + 1));
    float mean = 0, weight = 0;
    for (int t = -radius; t <= radius; ++t) {
      const float envelope = std::exp(-static_cast<float>(t * t) / (2 * sigma * sigma));
      tap(kernel, t + radius) = envelope * std::cos(2 * kPi * static_cast<float>(t) / lambda);
      mean += tap(kernel, t + radius);
      weight += envelope;
    }
    // No response to flat grey: remove the DC part in proportion to the envelope.
    for (int t = -radius; t <= radius; ++t) {
      const float envelope = std::exp(-static_cast<float>(t * t) / (2 * sigma * sigma));
      tap(kernel, t + radius) -= mean * envelope / weight;
    }
    across[static_cast<std::size_t>(p)] = std::move(kernel);
  }
  Field enhanced(image.width, image.height);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      if (!mask.at(x, y)) continue;
      const std::size_t bin = bin_of(field.angle.at(x, y));
      const float nx = -sines[bin], ny = cosines[bin];
      const float lambda = period.bilinear((static_cast<float>(x) - static_cast<float>(block) / 2.0f) / static_cast<float>(block),
                                           (static_cast<float>(y) - static_cast<float>(block) / 2.0f) / static_cast<float>(block));
      const int p = std::clamp(static_cast<int>(std::lround((lambda - 4.0f) * 2.0f)), 0, kPeriodBins - 1);
      const auto& kernel = across[static_cast<std::size_t>(p)];
      const int radius = static_cast<int>(kernel.size() / 2);
      float sum = 0;
      for (int t = -radius; t <= radius; ++t) {
        sum += tap(kernel, t + radius) *
               smoothed.bilinear(static_cast<float>(x) + static_cast<float>(t) * nx, static_cast<float>(y) + static_cast<float>(t) * ny);
      }
      enhanced.at(x, y) = sum;
    }
  }
  return enhanced;
}

float iso_angle(float dx, float dy) { return std::atan2(-dy, dx); }

/// Ridge clarity, 0..1: how strongly the oriented band-pass responds around a point, relative to
/// the clearest parts of this capture. Faint, smudged or noisy areas answer weakly.
Field ridge_clarity(const Field& enhanced, const Mask& mask) {
  Field magnitude(enhanced.width, enhanced.height);
  for (std::size_t i = 0; i < magnitude.values.size(); ++i) magnitude.values[i] = mask.values[i] ? std::abs(enhanced.values[i]) : 0.0f;
  Field clarity = fast_blur(magnitude, 8.0);
  std::vector<float> inside;
  for (std::size_t i = 0; i < clarity.values.size(); ++i) {
    if (mask.values[i]) inside.push_back(clarity.values[i]);
  }
  const float high = inside.empty() ? 1.0f : std::max(1e-6f, upper_decile(std::move(inside)));
  for (auto& v : clarity.values) v = std::min(1.0f, v / high);
  return clarity;
}

/// The skeleton walk gives a minutia's sense, but in whole-pixel steps over about one ridge period;
/// the smoothed ridge flow (`iso_flow`, defined modulo pi) gives a finer angle. Where the two
/// disagree by more than 45 degrees (near cores and deltas, where the flow turns fast) the walk's
/// angle is kept.
float refined_by_the_flow(float walk_angle, float iso_flow) {
  const float flow = angle_between(iso_flow, walk_angle) <= kPi / 2 ? iso_flow : iso_flow + kPi;
  if (angle_between(flow, walk_angle) >= kPi / 4) return walk_angle;
  return std::atan2(std::sin(flow), std::cos(flow));
}

/// A fork points along the ridge flow towards its two branches, where the valley between them
/// starts. Which way that is, is read from the enhanced image (a valley answers above zero) half a
/// period to a period ahead and behind, not from the skeleton's branches: which of three nearly
/// parallel branches looked like the stem depended on the pixel grid, and a mirrored or turned
/// capture pointed one fork in six the other way.
float fork_direction(const Field& enhanced, int x, int y, float flow, float period) {
  const float ux = std::cos(flow), uy = std::sin(flow);
  float ahead = 0, behind = 0;
  for (const float share : {0.4f, 0.6f, 0.8f, 1.0f}) {
    const float reach = share * period;
    ahead += enhanced.bilinear(static_cast<float>(x) + reach * ux, static_cast<float>(y) + reach * uy);
    behind += enhanced.bilinear(static_cast<float>(x) - reach * ux, static_cast<float>(y) - reach * uy);
  }
  return ahead >= behind ? iso_angle(ux, uy) : iso_angle(-ux, -uy);
}

/// Whether the line from (x, y) opposite to `iso_direction` leaves the mask within `reach`.
bool leaves_the_finger(const Mask& mask, int x, int y, float iso_direction, float reach) {
  const float ux = -std::cos(iso_direction), uy = std::sin(iso_direction);  // y points down
  for (int step = 1; static_cast<float>(step) <= reach; ++step) {
    const auto t = static_cast<float>(step);
    const int sx = static_cast<int>(std::lround(static_cast<float>(x) + t * ux));
    const int sy = static_cast<int>(std::lround(static_cast<float>(y) + t * uy));
    if (!mask.inside(sx, sy) || !mask.at(sx, sy)) return true;
  }
  return false;
}

}  // namespace

Result<Extraction> extract_minutiae(const GrayImage& image, const ExtractorOptions& options, ExtractionTrace* trace) {
  if (image.width < 64 || image.height < 64 || image.pixels.size() != static_cast<std::size_t>(image.width) * image.height) {
    return make_error(ErrorCategory::usage, "the image is too small or inconsistent to hold a fingerprint");
  }
  if (!(image.dpi >= 250 && image.dpi <= 2000)) {
    return make_error(ErrorCategory::usage, "image resolution outside 250..2000 dpi");
  }
  const double scale = options.working_dpi / image.dpi;
  const double mm_per_pixel = 25.4 / options.working_dpi;
  const Field full = resample(image, scale);
  const Mask full_mask = segment(full, options.segmentation_block);
  // Everything after segmentation works on the finger's bounding box (plus a margin): captures
  // are often mostly background.
  int left = full.width, top = full.height, right = -1, bottom = -1;
  for (int y = 0; y < full.height; ++y) {
    for (int x = 0; x < full.width; ++x) {
      if (!full_mask.at(x, y)) continue;
      left = std::min(left, x), right = std::max(right, x), top = std::min(top, y), bottom = std::max(bottom, y);
    }
  }
  if (right < 0) return Extraction{};
  const int pad = options.block;
  left = std::max(0, left - pad), top = std::max(0, top - pad);
  right = std::min(full.width - 1, right + pad), bottom = std::min(full.height - 1, bottom + pad);
  Field raw(right - left + 1, bottom - top + 1);
  Mask mask(raw.width, raw.height);
  for (int y = 0; y < raw.height; ++y) {
    for (int x = 0; x < raw.width; ++x) {
      raw.at(x, y) = full.at(x + left, y + top);
      mask.at(x, y) = full_mask.at(x + left, y + top);
    }
  }
  const Field normalised = normalise(raw);
  const OrientationField field = orientation(normalised, options.orientation_sigma);
  // Areas without a clear ridge flow (smudges, the second phalanx, creases) leave the mask.
  {
    const Field coherence = fast_blur(field.coherence, options.block);
    for (std::size_t i = 0; i < mask.values.size(); ++i) {
      if (coherence.values[i] < options.min_coherence) mask.values[i] = 0;
    }
  }
  const Field period = ridge_period(normalised, field, mask, options.block);
  const Field enhanced = enhance(normalised, field, period, mask, options.block, options.along_ridge_sigma);
  const Field border_distance = distance_to_background(mask);
  const Field clarity = ridge_clarity(enhanced, mask);

  Mask skeleton(raw.width, raw.height);
  std::size_t foreground = 0;
  double coherence_sum = 0;
  for (int y = 0; y < raw.height; ++y) {
    for (int x = 0; x < raw.width; ++x) {
      if (!mask.at(x, y)) continue;
      ++foreground;
      coherence_sum += field.coherence.at(x, y);
      skeleton.at(x, y) = enhanced.at(x, y) < 0;  // ridges are dark
    }
  }
  Extraction extraction;
  extraction.foreground_fraction = static_cast<double>(foreground) / static_cast<double>(full.values.size());
  if (foreground == 0) return extraction;
  extraction.quality = coherence_sum / static_cast<double>(foreground) * std::min(1.0, extraction.foreground_fraction * 3);
  if (trace != nullptr) {
    trace->mask = GrayImage(raw.width, raw.height, options.working_dpi, 0);
    trace->enhanced = GrayImage(raw.width, raw.height, options.working_dpi, 255);
    for (std::size_t i = 0; i < raw.values.size(); ++i) {
      trace->mask.pixels[i] = mask.values[i] ? 255 : 0;
      if (mask.values[i]) {
        trace->enhanced.pixels[i] = static_cast<std::uint8_t>(std::clamp(128.0f + 40.0f * enhanced.values[i], 0.0f, 255.0f));
      }
    }
  }
  finger::thin_ridges(skeleton);
  if (trace != nullptr) {
    trace->skeleton = GrayImage(raw.width, raw.height, options.working_dpi, 255);
    for (std::size_t i = 0; i < raw.values.size(); ++i) {
      if (skeleton.values[i]) trace->skeleton.pixels[i] = 0;
    }
  }

  const float mean_period = [&] {
    float sum = 0;
    for (float v : period.values) sum += v;
    return sum / static_cast<float>(period.values.size());
  }();
  const int follow_length = static_cast<int>(std::lround(mean_period * 1.2f));
  const float margin = static_cast<float>(options.border_margin_mm / mm_per_pixel);

  std::vector<MinutiaCandidate> candidates;
  for (int y = 1; y < raw.height - 1; ++y) {
    for (int x = 1; x < raw.width - 1; ++x) {
      if (!skeleton.at(x, y)) continue;
      const int cn = crossing_number(skeleton, x, y);
      if (cn != 1 && cn != 3) continue;
      if (border_distance.at(x, y) < margin) continue;
      const float coherence = field.coherence.at(x, y);
      if (coherence < options.min_coherence) continue;
      // Where the ridges answer the filter at less than a fifth of the capture's clearest parts,
      // a fork or an end is more likely noise than skin.
      if (clarity.at(x, y) < 0.2f) continue;
      const std::vector<BranchWalk> walks = walk_branches(skeleton, x, y, follow_length);
      MinutiaCandidate candidate{static_cast<float>(x), static_cast<float>(y), 0, finger::MinutiaType::ending,
                                 // The cube makes clarity decide which minutiae a full template keeps.
                                 coherence * std::min(1.0f, border_distance.at(x, y) / (3 * margin)) *
                                     std::pow(clarity.at(x, y), 3.0f)};
      if (cn == 1) {
        if (walks.empty()) continue;
        const BranchWalk& walk = walks.front();
        // A short piece that ends at a junction or another end is a spur or an island.
        if (walk.steps < follow_length && (walk.hit_junction || walk.hit_end)) continue;
        candidate.angle = iso_angle(static_cast<float>(walk.x - x), static_cast<float>(walk.y - y));
        // A ridge that runs out of the finger's area within two periods ends there only
        // because the capture does.
        if (leaves_the_finger(mask, x, y, candidate.angle, 2 * mean_period)) continue;
        candidate.angle = refined_by_the_flow(candidate.angle, -field.angle.at(x, y));
      } else {
        if (walks.size() < 3) continue;
        if (is_bridge(walks, x, y, field.angle.at(x, y))) continue;
        candidate.type = finger::MinutiaType::bifurcation;
        candidate.angle = fork_direction(enhanced, x, y, field.angle.at(x, y), mean_period);
      }
      candidates.push_back(candidate);
    }
  }

  remove_false_minutiae(candidates, mean_period);
  for (const auto& candidate : candidates) {
    extraction.minutiae.push_back({(candidate.x + static_cast<float>(left)) * mm_per_pixel,
                                   (candidate.y + static_cast<float>(top)) * mm_per_pixel, candidate.angle, candidate.type,
                                   candidate.quality});
  }
  return extraction;
}

}  // namespace sdbox::firmware
