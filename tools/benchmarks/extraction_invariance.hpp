#pragma once
// How much of what the extractor finds survives turning the image over or a quarter round: the
// same finger in a mirror or on its side must give the same minutiae, moved with it. Whatever
// differs comes from the pixel grid (block borders, the thinning's scan order, walk orders), so
// this measures the extractor's own repeatability without a second capture or a label.

#include "finger/minutiae_extractor.hpp"

#include "sdbox/common/finger_template.hpp"
#include "sdbox/common/image.hpp"

#include <vector>

namespace sdbox::bench {

enum class LosslessTurn { mirror, quarter_turn };

/// The image mirrored left to right, or turned a quarter clockwise; every pixel kept.
GrayImage turned(const GrayImage& image, LosslessTurn turn);

/// Minutiae found on `turned(image, turn)` carried back to `image`'s frame (same dpi).
std::vector<finger::Minutia> carried_back(const std::vector<finger::Minutia>& minutiae, const GrayImage& image,
                                          LosslessTurn turn);

struct Agreement {
  std::size_t first = 0;   ///< minutiae in the first set
  std::size_t second = 0;  ///< in the second
  std::size_t shared = 0;  ///< paired one to one: same type, within the distance and the angle

  /// Twice the pairs over both sets' sizes: 1 when every minutia of each set has its partner.
  [[nodiscard]] double share() const {
    return first + second == 0 ? 0.0 : 2.0 * static_cast<double>(shared) / static_cast<double>(first + second);
  }
  Agreement& operator+=(const Agreement& other) {
    first += other.first, second += other.second, shared += other.shared;
    return *this;
  }
};

/// Whether a pair must be of one type (ending or fork).
enum class Types { must_match, ignored };

constexpr double kFoundAgainWithinMm = 0.15;
constexpr double kFoundAgainWithinRad = 0.3927;  // 22.5 degrees

/// Pairs two sets of minutiae of one image, closest first.
Agreement agreement(const std::vector<finger::Minutia>& first, const std::vector<finger::Minutia>& second,
                    double within_mm = kFoundAgainWithinMm, double within_rad = kFoundAgainWithinRad,
                    Types types = Types::must_match);

/// Where the minutiae not found again went: each rung pairs more loosely than the one below it,
/// so what a rung adds is how many differ only in that respect.
struct AgreementLadder {
  Agreement exact;          ///< same type, within 0.15 mm and 22.5 degrees
  Agreement any_type;       ///< the type ignored
  Agreement any_direction;  ///< the type and the direction ignored
  Agreement nearby;         ///< the type and the direction ignored, within 0.5 mm
  AgreementLadder& operator+=(const AgreementLadder& other) {
    exact += other.exact, any_type += other.any_type, any_direction += other.any_direction, nearby += other.nearby;
    return *this;
  }
};

AgreementLadder agreement_ladder(const std::vector<finger::Minutia>& first, const std::vector<finger::Minutia>& second);

}  // namespace sdbox::bench
