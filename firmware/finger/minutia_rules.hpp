#pragma once

#include "sdbox/common/finger_template.hpp"

#include <vector>

namespace sdbox::firmware {

/// A minutia as the skeleton shows it, before the false-minutia rules: working-resolution
/// pixels, ISO angle (radians, counter-clockwise as seen on the image).
struct MinutiaCandidate {
  float x;
  float y;
  float angle;
  finger::MinutiaType type;
  float quality;
};

/// Removes what the skeleton shows that is not skin: repeated detections of one minutia are kept
/// once; pairs closer than a ridge period (`ridge_period`, pixels) of one type, or two endings
/// facing each other, are breaks, bridges or pores and both go; a minutia with two or more
/// others that close lies in noise and goes.
void remove_false_minutiae(std::vector<MinutiaCandidate>& candidates, float ridge_period);

}  // namespace sdbox::firmware
