#include "sdbox/common/image.hpp"

#include "test_card.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace sdbox {
namespace {

GrayImage gradient(int width, int height, double dpi) {
  GrayImage image(width, height, dpi);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) image.at(x, y) = static_cast<std::uint8_t>((x * 7 + y * 3) % 256);
  }
  return image;
}

TEST(Image, TiffAndPgmRoundTrip) {
  const GrayImage image = gradient(37, 23, 569);
  auto tiff = decode_tiff(encode_tiff(image));
  ASSERT_TRUE(tiff) << tiff.error().describe();
  EXPECT_EQ(tiff->width, 37);
  EXPECT_EQ(tiff->height, 23);
  EXPECT_DOUBLE_EQ(tiff->dpi, 569);
  EXPECT_EQ(tiff->pixels, image.pixels);
  auto pgm = decode_pgm(encode_pgm(image), 569);
  ASSERT_TRUE(pgm) << pgm.error().describe();
  EXPECT_EQ(pgm->pixels, image.pixels);
}

TEST(Image, MalformedImagesAreRefusedWithAReason) {
  const Bytes tiff = encode_tiff(gradient(8, 8, 500));
  EXPECT_FALSE(decode_tiff({}).ok());
  EXPECT_FALSE(decode_tiff(ByteView(tiff).first(tiff.size() - 1)).ok()) << "truncated pixels";
  Bytes big_endian_garbage = tiff;
  big_endian_garbage[0] = 'M';
  big_endian_garbage[1] = 'M';
  EXPECT_FALSE(decode_tiff(big_endian_garbage).ok());
  Bytes compressed = tiff;
  compressed[8 + 2 + 3 * 12 + 8] = 5;  // Compression = LZW
  auto refused = decode_tiff(compressed);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("compressed"), std::string::npos);
  // Optional tags (bits, compression, photometric, samples, and the resolution unit in place of
  // rows per strip) that are not integers: refused with the tag's name, never a crash (found by
  // fuzz_image; the seed corpus keeps that input).
  for (const auto& [index, tag] : {std::pair{2, 258}, std::pair{3, 259}, std::pair{4, 262}, std::pair{6, 277}, std::pair{7, 296}}) {
    Bytes ascii = tiff;
    const std::size_t at = 8 + 2 + static_cast<std::size_t>(index) * 12;
    ascii[at] = static_cast<std::uint8_t>(tag & 0xFF);
    ascii[at + 1] = static_cast<std::uint8_t>(tag >> 8);
    ascii[at + 2] = 2;  // ASCII
    const auto not_a_number = decode_tiff(ascii);
    ASSERT_FALSE(not_a_number) << tag;
    EXPECT_NE(not_a_number.error().message.find(fmt::format("TIFF tag {} is not an integer", tag)), std::string::npos)
        << not_a_number.error().message;
  }
  EXPECT_FALSE(decode_pgm(bytes_of("P5\n2 2\n255\n\x01\x02\x03"), 500).ok()) << "short pixels";
  EXPECT_FALSE(decode_pgm(bytes_of("P2\n2 2\n255\n1 2 3 4"), 500).ok()) << "ASCII PGM";
  EXPECT_FALSE(decode_pgm(bytes_of("P5\n99999 2\n255\n"), 500).ok()) << "absurd size";
}

}  // namespace
}  // namespace sdbox
