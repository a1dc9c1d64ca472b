#pragma once

#include "sdbox/common/finger_template.hpp"

#include <random>
#include <vector>

namespace sdbox::testing {

/// A random finger as minutiae: at least 1 mm apart over a 14 x 18 mm area. (Synthetic minutiae
/// for card logic; synthetic images come from tools/fingersynth.)
std::vector<finger::Minutia> random_finger(std::mt19937& random, int count = 40);

/// Another impression of the same finger (angles follow ISO: counter-clockwise as seen on the
/// image, y pointing down): rotated (±20°), shifted (±2 mm), with position and
/// angle noise, 20 % of minutiae lost and five spurious ones found.
std::vector<finger::Minutia> impression(const std::vector<finger::Minutia>& finger, std::mt19937& random);

/// The compact-card template a card with default rules accepts (fails the test otherwise).
std::vector<finger::CompactMinutia> card_template(const std::vector<finger::Minutia>& minutiae);

}  // namespace sdbox::testing
