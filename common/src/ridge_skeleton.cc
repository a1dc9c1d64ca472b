#include "sdbox/common/ridge_skeleton.hpp"

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
          std::array<int, 8> n{};
          for (std::size_t i = 0; i < 8; ++i) n[i] = ridges.sample(x + kNeighbourRing[i].first, y + kNeighbourRing[i].second);
          int neighbours = 0, transitions = 0;
          for (std::size_t i = 0; i < 8; ++i) {
            neighbours += n[i];
            transitions += (n[i] == 0 && n[(i + 1) % 8] == 1);
          }
          if (neighbours < 2 || neighbours > 6 || transitions != 1) continue;
          if (step == 0 && (n[0] * n[2] * n[4] != 0 || n[2] * n[4] * n[6] != 0)) continue;
          if (step == 1 && (n[0] * n[2] * n[6] != 0 || n[0] * n[4] * n[6] != 0)) continue;
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
