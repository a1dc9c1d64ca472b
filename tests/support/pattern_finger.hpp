#pragma once

#include "sdbox/common/image.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace sdbox::testing {

/// A deterministic stand-in for a fingerprint image, for tests of code that takes images
/// (enrolment, the capture path): ridges round a core whose phase spirals at 36 places that
/// depend on `finger`, each making one minutia (the AM-FM model). An impression rotates (radians) and shifts (pixels) it and
/// adds noise from `impression`. 500 dpi, 300 x 360, dark ridges on white.
GrayImage pattern_finger(std::uint32_t finger, std::uint32_t impression, double rotation = 0, double dx = 0,
                         double dy = 0);

/// Where the minutiae of `finger` are (millimetres, unmoved impression): the ground truth.
std::vector<std::pair<double, double>> pattern_finger_minutiae(std::uint32_t finger);

}  // namespace sdbox::testing
