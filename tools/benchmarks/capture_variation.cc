#include "capture_variation.hpp"

#include "extraction_invariance.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace sdbox::bench {
namespace {

using Plane = std::vector<float>;

/// One axis of a separable resampling: each output sample is a triangle-weighted mean of the
/// source samples under it, the triangle widened by 1/scale when shrinking (no aliasing).
Plane resample_axis(const Plane& in, int length, int lines, int out_length, double scale, bool along_rows) {
  Plane out(static_cast<std::size_t>(out_length) * static_cast<std::size_t>(lines));
  const double support = std::max(1.0, 1.0 / scale);
  auto at = [&](int position, int line, int size) -> std::size_t {
    return along_rows ? static_cast<std::size_t>(line) * static_cast<std::size_t>(size) + static_cast<std::size_t>(position)
                      : static_cast<std::size_t>(position) * static_cast<std::size_t>(lines) + static_cast<std::size_t>(line);
  };
  for (int o = 0; o < out_length; ++o) {
    const double centre = (o + 0.5) / scale - 0.5;
    const int first = static_cast<int>(std::floor(centre - support)), last = static_cast<int>(std::ceil(centre + support));
    for (int line = 0; line < lines; ++line) {
      double sum = 0, weights = 0;
      for (int s = first; s <= last; ++s) {
        const double weight = std::max(0.0, 1.0 - std::abs(s - centre) / support);
        if (weight <= 0) continue;
        sum += weight * in[at(std::clamp(s, 0, length - 1), line, length)];
        weights += weight;
      }
      out[at(o, line, out_length)] = static_cast<float>(sum / weights);
    }
  }
  return out;
}

Plane gaussian_blur(const Plane& in, int width, int height, double sigma) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<double> kernel(static_cast<std::size_t>(2 * radius + 1));
  double total = 0;
  for (std::size_t k = 0; k < kernel.size(); ++k) {
    const double offset = static_cast<double>(k) - radius;
    total += kernel[k] = std::exp(-0.5 * offset * offset / (sigma * sigma));
  }
  for (auto& k : kernel) k /= total;
  Plane rows(in.size()), out(in.size());
  auto index = [&](int x, int y) { return static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x); };
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      double sum = 0;
      for (std::size_t k = 0; k < kernel.size(); ++k) sum += kernel[k] * in[index(std::clamp(x + static_cast<int>(k) - radius, 0, width - 1), y)];
      rows[index(x, y)] = static_cast<float>(sum);
    }
  }
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      double sum = 0;
      for (std::size_t k = 0; k < kernel.size(); ++k) sum += kernel[k] * rows[index(x, std::clamp(y + static_cast<int>(k) - radius, 0, height - 1))];
      out[index(x, y)] = static_cast<float>(sum);
    }
  }
  return out;
}

}  // namespace

bool CaptureVariation::any() const { return rescale != 1 || blur_px > 0 || sharpen > 0 || mirror || quarter_turn; }

std::string CaptureVariation::describe() const {
  std::string text;
  auto add = [&](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (rescale != 1) add(fmt::format("resampled x{:g}", rescale));
  if (blur_px > 0) add(fmt::format("blurred {:g} px", blur_px));
  if (sharpen > 0) add(fmt::format("sharpened {:g}", sharpen));
  if (mirror) add("mirrored");
  if (quarter_turn) add("turned a quarter");
  return text.empty() ? "as captured" : text;
}

GrayImage varied(const GrayImage& image, const CaptureVariation& variation) {
  int width = image.width, height = image.height;
  double dpi = image.dpi;
  Plane plane(image.pixels.begin(), image.pixels.end());
  if (variation.rescale != 1) {
    const int out_width = std::max(1, static_cast<int>(std::lround(width * variation.rescale)));
    const int out_height = std::max(1, static_cast<int>(std::lround(height * variation.rescale)));
    plane = resample_axis(plane, width, height, out_width, variation.rescale, true);
    plane = resample_axis(plane, height, out_width, out_height, variation.rescale, false);
    width = out_width, height = out_height;
    dpi *= variation.rescale;
  }
  if (variation.blur_px > 0) plane = gaussian_blur(plane, width, height, variation.blur_px);
  if (variation.sharpen > 0) {
    const Plane soft = gaussian_blur(plane, width, height, 2.0);
    for (std::size_t i = 0; i < plane.size(); ++i) plane[i] += static_cast<float>(variation.sharpen) * (plane[i] - soft[i]);
  }
  GrayImage out(width, height, dpi);
  for (std::size_t i = 0; i < plane.size(); ++i) out.pixels[i] = static_cast<std::uint8_t>(std::clamp(std::lround(plane[i]), 0L, 255L));
  if (variation.mirror) out = turned(out, LosslessTurn::mirror);
  if (variation.quarter_turn) out = turned(out, LosslessTurn::quarter_turn);
  return out;
}

}  // namespace sdbox::bench
