#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <cstdint>
#include <filesystem>
#include <vector>

namespace sdbox {

/// An 8-bit greyscale image, row-major, 0 = black. Fingerprints have dark ridges on a light
/// background. `dpi` is the sampling resolution (pixels per inch).
struct GrayImage {
  int width = 0;
  int height = 0;
  double dpi = 500;
  std::vector<std::uint8_t> pixels;

  GrayImage() = default;
  GrayImage(int w, int h, double resolution, std::uint8_t fill = 255)
      : width(w), height(h), dpi(resolution), pixels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), fill) {}

  [[nodiscard]] std::uint8_t at(int x, int y) const {
    return pixels[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)];
  }
  std::uint8_t& at(int x, int y) {
    return pixels[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)];
  }
  [[nodiscard]] double pixels_per_mm() const { return dpi / 25.4; }
};

inline constexpr int kMaxImageSide = 4096;

/// Uncompressed 8-bit greyscale baseline TIFF (either byte order, one or more strips,
/// BlackIsZero or WhiteIsZero); the resolution tag sets `dpi` when present. Strict: anything
/// else is a clear error.
Result<GrayImage> decode_tiff(ByteView data);
/// Binary PGM (P5, maxval 255).
Result<GrayImage> decode_pgm(ByteView data, double dpi = 500);
Bytes encode_pgm(const GrayImage& image);
/// Minimal uncompressed TIFF with the resolution tag (what decode_tiff reads back).
Bytes encode_tiff(const GrayImage& image);

/// Reads .tif/.tiff or .pgm by extension.
Result<GrayImage> read_image(const std::filesystem::path& path, double pgm_dpi = 500);
Status write_image(const GrayImage& image, const std::filesystem::path& path);

}  // namespace sdbox
