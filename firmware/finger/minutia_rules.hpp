#pragma once

#include "sdbox/common/finger_template.hpp"
#include "sdbox/common/ridge_skeleton.hpp"

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

/// The angle between two directions (radians), 0..pi.
float angle_between(float a, float b);

/// Where a walk along one branch of a skeleton stopped.
struct BranchWalk {
  int x;
  int y;
  int steps;
  bool hit_junction;  ///< stopped at a pixel with three or more branches
  bool hit_end;       ///< stopped where the line ends
};

/// Walks from skeleton pixel (x, y) along each of its branches, up to `length` steps each.
std::vector<BranchWalk> walk_branches(const finger::BinaryImage& skeleton, int x, int y, int length);

/// Whether the fork at (x, y), with these branch walks, is one end of a bridge: a branch that
/// meets another fork on a chord more than 70 degrees off the ridge direction `ridge_direction`
/// (radians modulo pi, y down), across the ridges rather than along one, as where two ridges
/// of wet skin touch.
bool is_bridge(const std::vector<BranchWalk>& walks, int x, int y, float ridge_direction);

/// Removes what the skeleton shows that is not skin: repeated detections of one minutia are kept
/// once; pairs closer than a ridge period (`ridge_period`, pixels) of one type, or two endings
/// facing each other, are breaks, bridges or pores and both go; a minutia with two or more
/// others that close lies in noise and goes.
void remove_false_minutiae(std::vector<MinutiaCandidate>& candidates, float ridge_period);

}  // namespace sdbox::firmware
