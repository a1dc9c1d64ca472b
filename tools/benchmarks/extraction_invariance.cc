#include "extraction_invariance.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <tuple>

namespace sdbox::bench {

GrayImage turned(const GrayImage& image, LosslessTurn turn) {
  if (turn == LosslessTurn::mirror) {
    GrayImage out(image.width, image.height, image.dpi);
    for (int y = 0; y < image.height; ++y) {
      for (int x = 0; x < image.width; ++x) out.at(image.width - 1 - x, y) = image.at(x, y);
    }
    return out;
  }
  // A quarter clockwise: the pixel at (x, y) goes to (height - 1 - y, x).
  GrayImage out(image.height, image.width, image.dpi);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) out.at(image.height - 1 - y, x) = image.at(x, y);
  }
  return out;
}

std::vector<finger::Minutia> carried_back(const std::vector<finger::Minutia>& minutiae, const GrayImage& image,
                                          LosslessTurn turn) {
  // The extractor gives pixel index times pixel size, in millimetres; angles counterclockwise
  // with y pointing down (ISO/IEC 19794-2).
  const double pixel_mm = 25.4 / image.dpi;
  std::vector<finger::Minutia> back;
  back.reserve(minutiae.size());
  for (auto m : minutiae) {
    if (turn == LosslessTurn::mirror) {
      m.x_mm = (image.width - 1) * pixel_mm - m.x_mm;
      m.angle_rad = std::numbers::pi - m.angle_rad;
    } else {
      const double x = m.y_mm, y = (image.height - 1) * pixel_mm - m.x_mm;
      m.x_mm = x, m.y_mm = y;
      m.angle_rad += std::numbers::pi / 2;
    }
    m.angle_rad = std::remainder(m.angle_rad, 2 * std::numbers::pi);
    back.push_back(m);
  }
  return back;
}

Agreement agreement(const std::vector<finger::Minutia>& first, const std::vector<finger::Minutia>& second,
                    double within_mm, double within_rad, Types types) {
  std::vector<std::tuple<double, std::size_t, std::size_t>> close;
  for (std::size_t i = 0; i < first.size(); ++i) {
    for (std::size_t j = 0; j < second.size(); ++j) {
      if (types == Types::must_match && first[i].type != second[j].type) continue;
      const double distance = std::hypot(first[i].x_mm - second[j].x_mm, first[i].y_mm - second[j].y_mm);
      const double turn = std::abs(std::remainder(first[i].angle_rad - second[j].angle_rad, 2 * std::numbers::pi));
      if (distance <= within_mm && turn <= within_rad) close.emplace_back(distance, i, j);
    }
  }
  std::sort(close.begin(), close.end());
  std::vector<bool> used_first(first.size()), used_second(second.size());
  Agreement result{first.size(), second.size(), 0};
  for (const auto& [distance, i, j] : close) {
    if (used_first[i] || used_second[j]) continue;
    used_first[i] = used_second[j] = true;
    ++result.shared;
  }
  return result;
}

AgreementLadder agreement_ladder(const std::vector<finger::Minutia>& first, const std::vector<finger::Minutia>& second) {
  constexpr double kAnyDirection = std::numbers::pi;
  return {agreement(first, second), agreement(first, second, kFoundAgainWithinMm, kFoundAgainWithinRad, Types::ignored),
          agreement(first, second, kFoundAgainWithinMm, kAnyDirection, Types::ignored),
          agreement(first, second, 0.5, kAnyDirection, Types::ignored)};
}

}  // namespace sdbox::bench
