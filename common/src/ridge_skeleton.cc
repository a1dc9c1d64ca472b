#include "sdbox/common/ridge_skeleton.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace sdbox::finger {

void thin_ridges(BinaryImage& ridges) {
  std::vector<std::size_t> remove;
  bool changed = true;
  while (changed) {
    changed = false;
    for (int step = 0; step < 2; ++step) {
      remove.clear();
      for (int y = 1; y < ridges.height - 1; ++y) {
        for (int x = 1; x < ridges.width - 1; ++x) {
          if (!ridges.at(x, y)) continue;
          std::array<bool, 8> n{};
          for (std::size_t i = 0; i < 8; ++i) n[i] = ridges.sample(x + kNeighbourRing[i].first, y + kNeighbourRing[i].second);
          const bool north = n[0], north_east = n[1], east = n[2], south_east = n[3];
          const bool south = n[4], south_west = n[5], west = n[6], north_west = n[7];
          // Removing the pixel keeps the ridge in one piece: exactly one 4-side opening onto ridge.
          const int pieces = static_cast<int>(!north && (north_east || east)) + static_cast<int>(!east && (south_east || south)) +
                             static_cast<int>(!south && (south_west || west)) + static_cast<int>(!west && (north_west || north));
          if (pieces != 1) continue;
          // Not an end of a line (one neighbour) and not inside a blob.
          const int pairs_one = static_cast<int>(north_west || north) + static_cast<int>(north_east || east) +
                                static_cast<int>(south_east || south) + static_cast<int>(south_west || west);
          const int pairs_two = static_cast<int>(north || north_east) + static_cast<int>(east || south_east) +
                                static_cast<int>(south || south_west) + static_cast<int>(west || north_west);
          const int spread = std::min(pairs_one, pairs_two);
          if (spread < 2 || spread > 3) continue;
          // The two passes peel opposite sides in turn (Guo and Hall's A1).
          const bool side = step == 0 ? (south || south_west || !north_west) && west : (north || north_east || !south_east) && east;
          if (side) continue;
          remove.push_back(static_cast<std::size_t>(y) * static_cast<std::size_t>(ridges.width) + static_cast<std::size_t>(x));
        }
      }
      for (std::size_t at : remove) ridges.values[at] = 0;
      changed = changed || !remove.empty();
    }
  }
}

int crossing_number(const BinaryImage& skeleton, int x, int y) {
  int transitions = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    const auto [ax, ay] = kNeighbourRing[i];
    const auto [bx, by] = kNeighbourRing[(i + 1) % 8];
    transitions += skeleton.sample(x + ax, y + ay) != skeleton.sample(x + bx, y + by);
  }
  return transitions / 2;
}

}  // namespace sdbox::finger
