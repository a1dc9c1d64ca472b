#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

/// Binary ridge maps and their skeletons: shared by the box's minutiae extractor and the
/// synthetic-finger generator's ground truth, so both see minutiae the same way.
namespace sdbox::finger {

/// A binary image, row-major: 1 = set (a ridge pixel), 0 = not.
struct BinaryImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> values;

  BinaryImage(int w, int h, std::uint8_t fill = 0)
      : width(w), height(h), values(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), fill) {}
  std::uint8_t& at(int x, int y) { return values[index(x, y)]; }
  [[nodiscard]] std::uint8_t at(int x, int y) const { return values[index(x, y)]; }
  [[nodiscard]] bool inside(int x, int y) const { return x >= 0 && y >= 0 && x < width && y < height; }
  /// 0 outside the image.
  [[nodiscard]] int sample(int x, int y) const { return inside(x, y) ? at(x, y) : 0; }

 private:
  [[nodiscard]] std::size_t index(int x, int y) const {
    return static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x);
  }
};

/// The 8 neighbours of a pixel (dx, dy), clockwise from north (y down).
inline constexpr std::array<std::pair<int, int>, 8> kNeighbourRing{
    {{0, -1}, {1, -1}, {1, 0}, {1, 1}, {0, 1}, {-1, 1}, {-1, 0}, {-1, -1}}};

/// Guo-Hall thinning (A1, 1989): every ridge becomes a one-pixel-wide, 8-connected line with no
/// pixel it could do without (Zhang-Suen, used before, left staircase corners on slanted ridges,
/// so the skeleton, and the walks along it, changed as the capture turned).
void thin_ridges(BinaryImage& ridges);

/// Crossing number of a skeleton pixel: 1 = ridge ending, 2 = on a ridge, 3+ = bifurcation.
int crossing_number(const BinaryImage& skeleton, int x, int y);

}  // namespace sdbox::finger
