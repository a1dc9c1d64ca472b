#pragma once
// The same captures as another sensor or another pose would give them: resampled, blurred,
// sharpened, mirrored or turned. Figures tuned on one set of images flatter the product; the
// same fingers through other optics show what it does on captures it has not seen.

#include "sdbox/common/image.hpp"

#include <string>

namespace sdbox::bench {

struct CaptureVariation {
  double rescale = 1;         ///< resample by this factor (the resolution follows: 500 dpi * 0.8 = 400 dpi)
  double blur_px = 0;         ///< Gaussian blur, sigma in pixels after resampling (softer optics)
  double sharpen = 0;         ///< unsharp mask: add this much of the image minus its 2-pixel blur
  bool mirror = false;        ///< left to right (lossless)
  bool quarter_turn = false;  ///< a quarter clockwise (lossless)

  [[nodiscard]] bool any() const;
  /// What is applied, in order, for the report ("as captured" when nothing).
  [[nodiscard]] std::string describe() const;
};

/// The image with `variation` applied: resampling (antialiased when shrinking), blur, sharpening,
/// then mirror and turn.
GrayImage varied(const GrayImage& image, const CaptureVariation& variation);

}  // namespace sdbox::bench
