#pragma once

#include "sdbox/common/finger_template.hpp"
#include "sdbox/common/image.hpp"
#include "sdbox/common/result.hpp"

#include <vector>

namespace sdbox::firmware {

/// What the extractor found in one image.
struct Extraction {
  std::vector<finger::Minutia> minutiae;  ///< physical coordinates (mm), directions, quality
  double quality = 0;                     ///< 0..1: how much clear ridge area the image holds
  double foreground_fraction = 0;         ///< share of the image that is finger
};

/// Tunables of the extractor; the defaults are what the product uses.
struct ExtractorOptions {
  double working_dpi = 500;          ///< images are resampled to this resolution first
  int block = 16;                    ///< ridge period and coherence block (pixels at working dpi)
  int segmentation_block = 16;       ///< finger/background block (pixels at working dpi)
  double orientation_sigma = 7.0;    ///< smoothing of the squared gradients
  double along_ridge_sigma = 4.5;    ///< enhancement: smoothing along the ridges
  double border_margin_mm = 0.5;     ///< minutiae this close to the finger's edge are dropped
  double min_coherence = 0.2;        ///< below this the ridge flow is too unclear to trust
};

/// Intermediate images, for tuning and for people looking at why a capture was refused.
struct ExtractionTrace {
  GrayImage mask;      ///< white = finger
  GrayImage enhanced;  ///< after oriented filtering
  GrayImage skeleton;  ///< thinned ridges (black)
};

/// Fingerprint image to minutiae: segmentation, orientation field, ridge frequency, oriented
/// enhancement, binarisation, thinning, crossing-number detection with ridge-following
/// directions, and removal of false minutiae (border, spurs, breaks, bridges, clusters).
/// The image's `dpi` is honoured: output coordinates are millimetres.
Result<Extraction> extract_minutiae(const GrayImage& image, const ExtractorOptions& options = {},
                                    ExtractionTrace* trace = nullptr);

}  // namespace sdbox::firmware
