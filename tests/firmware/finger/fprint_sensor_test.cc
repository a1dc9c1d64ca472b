// The sensor through libfprint's real virtual_image driver.
#include "finger/fprint_sensor.hpp"

#include "pattern_finger.hpp"
#include "temp_dir.hpp"
#include "virtual_image_feeder.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <thread>

namespace sdbox::firmware {
namespace {

using Clock = std::chrono::steady_clock;

class FprintSensorTest : public ::testing::Test {
 protected:
  FprintSensorTest() : socket_(dir_ / "sensor.sock") { ::setenv("FP_VIRTUAL_IMAGE", socket_.c_str(), 1); }
  ~FprintSensorTest() override { ::unsetenv("FP_VIRTUAL_IMAGE"); }

  std::optional<Result<GrayImage>> run_until_captured(std::optional<Result<GrayImage>>& slot) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!slot && Clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(10));
      io_.restart();
    }
    return slot;
  }

  testing::TempDir dir_;
  std::filesystem::path socket_;
  boost::asio::io_context io_;
};

TEST_F(FprintSensorTest, CapturesTheImageTheFingerShowsOnTheIoContext) {
  const auto opening = Clock::now();
  auto sensor = FprintSensor::create({io_.get_executor(), 500});
  ASSERT_TRUE(sensor) << sensor.error().describe();
  const auto open_ms = std::chrono::duration<double, std::milli>(Clock::now() - opening).count();
  const GrayImage finger = testing::pattern_finger(4, 0);

  std::optional<Result<GrayImage>> captured;
  std::thread::id handler_thread;
  Clock::time_point sent, delivered;
  (*sensor)->capture([&](Result<GrayImage> image) {
    delivered = Clock::now();
    handler_thread = std::this_thread::get_id();
    captured.emplace(std::move(image));
  });
  std::thread finger_thread([&] {
    auto feeder = fingerfeed::VirtualImageFeeder::connect(socket_, std::chrono::seconds(5));
    ASSERT_TRUE(feeder) << feeder.error().describe();
    sent = Clock::now();
    ASSERT_TRUE(feeder->send_image(finger).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // keep the socket while libfprint reads
  });
  run_until_captured(captured);
  finger_thread.join();
  const auto capture_ms = std::chrono::duration<double, std::milli>(delivered - sent).count();
  ASSERT_TRUE(captured) << "no capture within 10 s";
  ASSERT_TRUE(*captured) << captured->error().describe();
  EXPECT_EQ(handler_thread, std::this_thread::get_id()) << "results arrive on the firmware's io_context";
  EXPECT_EQ((*captured)->width, finger.width);
  EXPECT_EQ((*captured)->height, finger.height);
  EXPECT_DOUBLE_EQ((*captured)->dpi, 500);
  EXPECT_EQ((*captured)->pixels, finger.pixels) << "the image goes through unchanged";
  std::cout << "open " << open_ms << " ms, image sent to image on the io_context " << capture_ms << " ms\n";
}

TEST_F(FprintSensorTest, ACancelledCaptureCompletesWithAnError) {
  auto sensor = FprintSensor::create({io_.get_executor(), 500});
  ASSERT_TRUE(sensor) << sensor.error().describe();
  std::optional<Result<GrayImage>> captured;
  (*sensor)->capture([&](Result<GrayImage> image) { captured.emplace(std::move(image)); });
  io_.run_for(std::chrono::milliseconds(100));
  io_.restart();
  (*sensor)->cancel();
  run_until_captured(captured);
  ASSERT_TRUE(captured);
  ASSERT_FALSE(*captured);
  EXPECT_NE(captured->error().message.find("cancel"), std::string::npos) << captured->error().message;
}

TEST(FprintSensorWithoutDevice, CreationFailsClearly) {
  ::unsetenv("FP_VIRTUAL_IMAGE");
  boost::asio::io_context io;
  auto sensor = FprintSensor::create({io.get_executor(), 500});
  ASSERT_FALSE(sensor) << "no sensor on this machine";
  EXPECT_EQ(sensor.error().category, ErrorCategory::io);
  EXPECT_NE(sensor.error().message.find("no fingerprint sensor"), std::string::npos) << sensor.error().message;
}

}  // namespace
}  // namespace sdbox::firmware
