#include "capture_variation.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace sdbox::bench {
namespace {

GrayImage stripes(int width, int height, int period) {
  GrayImage image(width, height, 500);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) image.at(x, y) = (x / (period / 2)) % 2 == 0 ? 40 : 220;
  }
  return image;
}

double mean(const GrayImage& image) {
  return std::accumulate(image.pixels.begin(), image.pixels.end(), 0.0) / static_cast<double>(image.pixels.size());
}

double deviation(const GrayImage& image) {
  const double m = mean(image);
  double sum = 0;
  for (auto v : image.pixels) sum += (v - m) * (v - m);
  return std::sqrt(sum / static_cast<double>(image.pixels.size()));
}

TEST(CaptureVariation, NothingAskedChangesNothing) {
  const CaptureVariation none;
  EXPECT_FALSE(none.any());
  EXPECT_EQ(none.describe(), "as captured");
  const GrayImage image = stripes(40, 30, 8);
  const GrayImage same = varied(image, none);
  EXPECT_EQ(same.pixels, image.pixels);
  EXPECT_EQ(same.dpi, image.dpi);
}

TEST(CaptureVariation, ResamplingMovesTheResolutionWithTheSize) {
  const GrayImage image = stripes(100, 60, 10);
  const GrayImage smaller = varied(image, {.rescale = 0.8});
  EXPECT_EQ(smaller.width, 80);
  EXPECT_EQ(smaller.height, 48);
  EXPECT_DOUBLE_EQ(smaller.dpi, 400);
  EXPECT_NEAR(mean(smaller), mean(image), 2.0);
  const GrayImage larger = varied(image, {.rescale = 1.138});
  EXPECT_EQ(larger.width, 114);
  EXPECT_DOUBLE_EQ(larger.dpi, 569);
  EXPECT_NEAR(mean(larger), mean(image), 2.0);
}

TEST(CaptureVariation, ShrinkingAveragesDetailTooFineToKeepInsteadOfAliasingIt) {
  // Stripes 2 px apart cannot survive halving: a sensor with half the pixels sees grey, not
  // stripes of another width (what point sampling would make of them).
  const GrayImage fine = stripes(64, 16, 2);
  const GrayImage halved = varied(fine, {.rescale = 0.5});
  EXPECT_LT(deviation(halved), 10.0) << "point sampling would keep all of the stripes' 90";
  EXPECT_NEAR(mean(halved), 130.0, 3.0);
}

TEST(CaptureVariation, BlurSoftensAndSharpeningSteepensWithoutMovingTheMean) {
  const GrayImage image = stripes(80, 40, 8);
  const GrayImage soft = varied(image, {.blur_px = 1.0});
  EXPECT_LT(deviation(soft), deviation(image) * 0.95);
  EXPECT_NEAR(mean(soft), mean(image), 1.0);
  GrayImage edge(40, 10, 500);
  for (int y = 0; y < 10; ++y) {
    for (int x = 0; x < 40; ++x) edge.at(x, y) = x < 20 ? 80 : 160;
  }
  const GrayImage sharp = varied(edge, {.sharpen = 0.6});
  EXPECT_LT(sharp.at(19, 5), 80) << "the dark side darkens at the edge";
  EXPECT_GT(sharp.at(20, 5), 160) << "the light side lightens";
  EXPECT_EQ(sharp.at(2, 5), 80) << "far from the edge nothing changes";
  EXPECT_EQ(varied(edge, {.sharpen = 3.0}).at(2, 5), 80);
}

TEST(CaptureVariation, SaysWhatItDidInTheOrderItDidIt) {
  const CaptureVariation all{.rescale = 0.8, .blur_px = 0.6, .sharpen = 0.5, .mirror = true, .quarter_turn = true};
  EXPECT_TRUE(all.any());
  EXPECT_EQ(all.describe(), "resampled x0.8, blurred 0.6 px, sharpened 0.5, mirrored, turned a quarter");
  const GrayImage image = stripes(50, 30, 10);
  const GrayImage out = varied(image, all);
  EXPECT_EQ(out.width, 24) << "turned: the height becomes the width";
  EXPECT_EQ(out.height, 40);
}

}  // namespace
}  // namespace sdbox::bench
