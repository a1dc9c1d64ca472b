#include "pattern_finger.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace sdbox::testing {

namespace {

constexpr int kWidth = 300, kHeight = 360;
constexpr double kPeriod = 9.0;
constexpr double kPixelsPerMm = 500 / 25.4;

struct Layout {
  double core_x = 0, core_y = 0, stretch = 1;
  struct Spiral {
    double x, y, turn;
  };
  std::vector<Spiral> spirals;
};

Layout layout_of(std::uint32_t finger) {
  std::mt19937 finger_random(finger * 7919u + 17u);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Layout layout;
  layout.core_x = 130 + 40 * unit(finger_random);
  layout.core_y = 150 + 60 * unit(finger_random);
  layout.stretch = 0.8 + 0.4 * unit(finger_random);  // ellipse: loops differ between fingers
  // Minutiae as spiral points of the ridge phase (the AM-FM model of Larkin and Fletcher): each
  // adds or removes one ridge around it, which is what a ridge ending or a bifurcation is.
  while (layout.spirals.size() < 36) {
    const Layout::Spiral candidate{40 + 220 * unit(finger_random), 40 + 280 * unit(finger_random),
                                   unit(finger_random) < 0.5 ? 1.0 : -1.0};
    bool spaced = std::hypot(candidate.x - layout.core_x, candidate.y - layout.core_y) > 3 * kPeriod;
    for (const auto& other : layout.spirals) {
      spaced = spaced && std::hypot(candidate.x - other.x, candidate.y - other.y) > 2.5 * kPeriod;
    }
    if (spaced) layout.spirals.push_back(candidate);
  }
  return layout;
}

}  // namespace

std::vector<std::pair<double, double>> pattern_finger_minutiae(std::uint32_t finger) {
  std::vector<std::pair<double, double>> points;
  for (const auto& spiral : layout_of(finger).spirals) points.emplace_back(spiral.x / kPixelsPerMm, spiral.y / kPixelsPerMm);
  return points;
}

GrayImage pattern_finger(std::uint32_t finger, std::uint32_t impression, double rotation, double dx, double dy) {
  const Layout layout = layout_of(finger);
  std::mt19937 noise_random(impression * 104729u + finger);
  std::normal_distribution<double> noise(0.0, 12.0);
  GrayImage image(kWidth, kHeight, 500, 255);
  const double c = std::cos(rotation), s = std::sin(rotation);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      // Where this pixel was on the finger before the impression moved it.
      const double u = x - kWidth / 2.0 - dx, v = y - kHeight / 2.0 - dy;
      const double fx = c * u + s * v + kWidth / 2.0, fy = -s * u + c * v + kHeight / 2.0;
      const double ex = (fx - 150) / 135, ey = (fy - 180) / 170;
      if (ex * ex + ey * ey > 1.0) continue;  // outside the finger: white
      double phase = 2 * std::numbers::pi * std::hypot(fx - layout.core_x, (fy - layout.core_y) * layout.stretch) / kPeriod;
      for (const auto& spiral : layout.spirals) phase += spiral.turn * std::atan2(fy - spiral.y, fx - spiral.x);
      const double ridge = 0.5 + 0.5 * std::cos(phase);  // 1 = ridge centre
      const double grey = 220 - 170 * ridge + noise(noise_random);
      image.at(x, y) = static_cast<std::uint8_t>(std::clamp(grey, 0.0, 255.0));
    }
  }
  return image;
}

}  // namespace sdbox::testing
