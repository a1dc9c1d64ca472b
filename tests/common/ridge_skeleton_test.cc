#include "sdbox/common/ridge_skeleton.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <iostream>
#include <numbers>

namespace sdbox::finger {
namespace {

/// A ridge `width` pixels wide from (x0, y0) to (x1, y1), drawn as overlapping discs.
void draw_ridge(BinaryImage& image, double x0, double y0, double x1, double y1, double width) {
  const double length = std::hypot(x1 - x0, y1 - y0);
  const int steps = static_cast<int>(length * 4);
  for (int step = 0; step <= steps; ++step) {
    const double t = step * 0.25;
    const double cx = x0 + (x1 - x0) * t / length, cy = y0 + (y1 - y0) * t / length;
    for (int y = static_cast<int>(cy - width); y <= static_cast<int>(cy + width); ++y) {
      for (int x = static_cast<int>(cx - width); x <= static_cast<int>(cx + width); ++x) {
        if (image.inside(x, y) && std::hypot(x - cx, y - cy) <= width / 2) image.at(x, y) = 1;
      }
    }
  }
}

struct SkeletonCount {
  int pixels = 0, ends = 0, junctions = 0;
  int redundant = 0;  ///< pixels the line could lose and stay in one piece (staircase corners)
};

SkeletonCount count(const BinaryImage& skeleton) {
  SkeletonCount c;
  for (int y = 0; y < skeleton.height; ++y) {
    for (int x = 0; x < skeleton.width; ++x) {
      if (!skeleton.at(x, y)) continue;
      ++c.pixels;
      const int cn = crossing_number(skeleton, x, y);
      c.ends += cn == 1;
      c.junctions += cn >= 3;
      std::array<bool, 8> n{};
      int neighbours = 0;
      for (std::size_t i = 0; i < 8; ++i) {
        n[i] = skeleton.sample(x + kNeighbourRing[i].first, y + kNeighbourRing[i].second) != 0;
        neighbours += n[i];
      }
      // One 8-connected group of neighbours (one opening onto them between 4-neighbours): the
      // pixel joins nothing the line needs it to join.
      const int openings = static_cast<int>(!n[0] && (n[1] || n[2])) + static_cast<int>(!n[2] && (n[3] || n[4])) +
                           static_cast<int>(!n[4] && (n[5] || n[6])) + static_cast<int>(!n[6] && (n[7] || n[0]));
      c.redundant += neighbours >= 2 && openings == 1;
    }
  }
  return c;
}

TEST(RidgeSkeleton, AThickRidgeBecomesOneLineWithTwoEnds) {
  BinaryImage ridge(60, 20);
  draw_ridge(ridge, 8, 10, 50, 10, 5);
  thin_ridges(ridge);
  const auto c = count(ridge);
  EXPECT_EQ(c.ends, 2);
  EXPECT_EQ(c.junctions, 0);
  for (int x = 12; x <= 46; ++x) {
    int in_column = 0;
    for (int y = 0; y < ridge.height; ++y) in_column += ridge.at(x, y);
    EXPECT_EQ(in_column, 1) << "column " << x;
  }
}

TEST(RidgeSkeleton, ARidgeAtAnyAngleAndWidthThinsToAMinimalLine) {
  // Zhang-Suen left staircase corners on slanted ridges (496 such pixels over these 36 ridges
  // 3 px wide): a skeleton's pixels must all be needed to keep the line in one piece.
  for (const double width : {2.0, 3.0, 4.0, 5.0}) {
    for (int degrees = 0; degrees < 180; degrees += 5) {
      const double a = degrees * std::numbers::pi / 180;
      BinaryImage ridge(80, 80);
      draw_ridge(ridge, 40 - 30 * std::cos(a), 40 - 30 * std::sin(a), 40 + 30 * std::cos(a), 40 + 30 * std::sin(a), width);
      thin_ridges(ridge);
      const auto c = count(ridge);
      EXPECT_EQ(c.redundant, 0) << width << " px at " << degrees << " degrees";
      EXPECT_EQ(c.ends, 2) << width << " px at " << degrees << " degrees";
      EXPECT_EQ(c.junctions, 0) << width << " px at " << degrees << " degrees";
    }
  }
}

TEST(RidgeSkeleton, AForkThinsToOneJunctionPixelAtEveryTurn) {
  // A fork of ridges 5 px wide, drawn turned every 15 degrees: however it lies on the pixel grid,
  // its skeleton keeps three ends and marks the fork once (a blob of junction pixels would be
  // detected two or three times, and differently as the capture turns).
  int single = 0, turns = 0;
  for (int degrees = 0; degrees < 360; degrees += 15, ++turns) {
    const double a = degrees * std::numbers::pi / 180;
    auto at = [&](double along, double across) {
      return std::pair{40 + along * std::cos(a) - across * std::sin(a), 40 + along * std::sin(a) + across * std::cos(a)};
    };
    BinaryImage fork(80, 80);
    const auto [sx, sy] = at(-25, 0);
    const auto [ux, uy] = at(25, -12);
    const auto [lx, ly] = at(25, 12);
    draw_ridge(fork, sx, sy, 40, 40, 5);
    draw_ridge(fork, 40, 40, ux, uy, 5);
    draw_ridge(fork, 40, 40, lx, ly, 5);
    thin_ridges(fork);
    const auto c = count(fork);
    EXPECT_EQ(c.ends, 3) << degrees;
    EXPECT_GE(c.junctions, 1) << degrees;
    single += c.junctions == 1;
  }
  std::cout << "forks marked by a single junction pixel: " << single << " of " << turns << "\n";
  EXPECT_GE(single, turns * 3 / 4);
}

}  // namespace
}  // namespace sdbox::finger
