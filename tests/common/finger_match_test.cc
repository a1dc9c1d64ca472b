#include "sdbox/common/finger_match.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

namespace sdbox::finger {
namespace {

/// A random finger: minutiae at least 1 mm apart over a 14 x 18 mm area.
std::vector<Minutia> random_finger(std::mt19937& random, int count = 40) {
  std::uniform_real_distribution<double> x(3.0, 17.0), y(3.0, 21.0), angle(0, 2 * std::numbers::pi);
  std::vector<Minutia> minutiae;
  while (static_cast<int>(minutiae.size()) < count) {
    Minutia candidate{x(random), y(random), angle(random), random() % 2 ? MinutiaType::ending : MinutiaType::bifurcation,
                      0.5 + 0.5 * std::uniform_real_distribution<double>(0, 1)(random)};
    bool spaced = true;
    for (const auto& m : minutiae) spaced = spaced && std::hypot(m.x_mm - candidate.x_mm, m.y_mm - candidate.y_mm) > 1.0;
    if (spaced) minutiae.push_back(candidate);
  }
  return minutiae;
}

/// Another impression of the same finger: rotated, shifted, with position and angle noise, some
/// minutiae lost and some spurious ones found.
std::vector<Minutia> impression(const std::vector<Minutia>& finger, std::mt19937& random) {
  std::uniform_real_distribution<double> rotation(-0.35, 0.35), shift(-2.0, 2.0), unit(0, 1);
  std::normal_distribution<double> position_noise(0, 0.2), angle_noise(0, 0.08);
  const double r = rotation(random), dx = shift(random), dy = shift(random);
  const double cx = 10, cy = 12;
  std::vector<Minutia> out;
  for (const auto& m : finger) {
    if (unit(random) < 0.2) continue;  // missed
    const double x = m.x_mm - cx, y = m.y_mm - cy;
    out.push_back({cx + dx + std::cos(r) * x - std::sin(r) * y + position_noise(random),
                   cy + dy + std::sin(r) * x + std::cos(r) * y + position_noise(random),
                   m.angle_rad + r + angle_noise(random), m.type, m.quality});
  }
  std::uniform_real_distribution<double> px(3.0, 17.0), py(3.0, 21.0), pa(0, 2 * std::numbers::pi);
  for (int i = 0; i < 5; ++i) out.push_back({px(random), py(random), pa(random), MinutiaType::ending, 0.3});
  return out;
}

std::vector<CompactMinutia> card_template(const std::vector<Minutia>& minutiae) {
  CardTemplateRules rules;
  auto compact = to_card_template(minutiae, rules);
  EXPECT_TRUE(compact) << compact.error().describe();
  return compact ? *compact : std::vector<CompactMinutia>{};
}

TEST(FingerMatch, ATemplateMatchesItselfFully) {
  std::mt19937 random(7);
  const auto reference = card_template(random_finger(random));
  const auto result = compare(reference, reference);
  EXPECT_EQ(result.paired, static_cast<int>(reference.size()));
  EXPECT_EQ(result.score, 100);
  EXPECT_TRUE(result.match);
}

TEST(FingerMatch, GenuineImpressionsMatchAndImpostorsDoNotAtTheProductThreshold) {
  std::mt19937 random(2026);
  int genuine_accepted = 0, impostor_accepted = 0, genuine_worst = 100, impostor_best = 0;
  constexpr int kFingers = 60;
  std::vector<std::vector<Minutia>> fingers;
  for (int i = 0; i < kFingers; ++i) fingers.push_back(random_finger(random, 30 + i % 20));
  for (int i = 0; i < kFingers; ++i) {
    const auto reference = card_template(impression(fingers[i], random));
    const auto genuine = compare(reference, card_template(impression(fingers[i], random)));
    const auto impostor = compare(reference, card_template(impression(fingers[(i + 1) % kFingers], random)));
    genuine_accepted += genuine.match;
    impostor_accepted += impostor.match;
    genuine_worst = std::min(genuine_worst, genuine.score);
    impostor_best = std::max(impostor_best, impostor.score);
  }
  std::cout << "genuine worst score " << genuine_worst << ", impostor best score " << impostor_best << "\n";
  EXPECT_EQ(genuine_accepted, kFingers);
  EXPECT_EQ(impostor_accepted, 0);
}

TEST(FingerMatch, TooFewMinutiaeNeverMatch) {
  std::mt19937 random(3);
  const auto reference = card_template(random_finger(random));
  EXPECT_FALSE(compare(reference, {}).match);
  EXPECT_FALSE(compare(reference, {reference[0]}).match);
  EXPECT_FALSE(compare({}, reference).match);
}

}  // namespace
}  // namespace sdbox::finger
