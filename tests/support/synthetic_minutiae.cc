#include "synthetic_minutiae.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace sdbox::testing {

using finger::Minutia;
using finger::MinutiaType;

std::vector<Minutia> random_finger(std::mt19937& random, int count) {
  std::uniform_real_distribution<double> x(3.0, 17.0), y(3.0, 21.0), angle(0, 2 * std::numbers::pi), unit(0, 1);
  std::vector<Minutia> minutiae;
  while (static_cast<int>(minutiae.size()) < count) {
    Minutia candidate{x(random), y(random), angle(random), random() % 2 ? MinutiaType::ending : MinutiaType::bifurcation,
                      0.5 + 0.5 * unit(random)};
    bool spaced = true;
    for (const auto& m : minutiae) spaced = spaced && std::hypot(m.x_mm - candidate.x_mm, m.y_mm - candidate.y_mm) > 1.0;
    if (spaced) minutiae.push_back(candidate);
  }
  return minutiae;
}

std::vector<Minutia> impression(const std::vector<Minutia>& finger, std::mt19937& random) {
  std::uniform_real_distribution<double> rotation(-0.35, 0.35), shift(-2.0, 2.0), unit(0, 1);
  std::normal_distribution<double> position_noise(0, 0.2), angle_noise(0, 0.08);
  const double r = rotation(random), dx = shift(random), dy = shift(random);
  const double cx = 10, cy = 12;
  std::vector<Minutia> out;
  for (const auto& m : finger) {
    if (unit(random) < 0.2) continue;
    const double x = m.x_mm - cx, y = m.y_mm - cy;
    out.push_back({cx + dx + std::cos(r) * x - std::sin(r) * y + position_noise(random),
                   cy + dy + std::sin(r) * x + std::cos(r) * y + position_noise(random),
                   // positions turn by r in the y-down frame, which is -r for ISO angles
                   m.angle_rad - r + angle_noise(random), m.type, m.quality});
  }
  std::uniform_real_distribution<double> px(3.0, 17.0), py(3.0, 21.0), pa(0, 2 * std::numbers::pi);
  for (int i = 0; i < 5; ++i) out.push_back({px(random), py(random), pa(random), MinutiaType::ending, 0.3});
  return out;
}

std::vector<finger::CompactMinutia> card_template(const std::vector<Minutia>& minutiae) {
  auto compact = finger::to_card_template(minutiae, finger::CardTemplateRules{});
  EXPECT_TRUE(compact) << compact.error().describe();
  return compact ? *compact : std::vector<finger::CompactMinutia>{};
}

}  // namespace sdbox::testing
