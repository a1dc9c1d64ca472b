// Fuzzes the image decoders (TIFF from fingerprint sets, PGM from tools): anything accepted has
// the pixels its size says.
#include "sdbox/common/image.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdbox;
  const ByteView input(data, size);
  for (auto image : {decode_tiff(input), decode_pgm(input, 500)}) {
    if (!image) continue;
    if (image->pixels.size() != static_cast<std::size_t>(image->width) * static_cast<std::size_t>(image->height)) {
      std::abort();
    }
  }
  return 0;
}
