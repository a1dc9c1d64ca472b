#pragma once

#include "sdbox/common/image.hpp"
#include "sdbox/common/result.hpp"

#include <chrono>
#include <filesystem>

namespace sdbox::fingerfeed {

/// Plays the finger for libfprint's virtual_image device: libfprint listens on the unix socket
/// named by FP_VIRTUAL_IMAGE; each image is a 32-bit width, a 32-bit height (host order) and
/// width x height grey bytes.
class VirtualImageFeeder {
 public:
  /// Connects, retrying until libfprint has opened the device and listens.
  static Result<VirtualImageFeeder> connect(const std::filesystem::path& socket, std::chrono::milliseconds patience);

  VirtualImageFeeder(VirtualImageFeeder&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  VirtualImageFeeder& operator=(VirtualImageFeeder&&) = delete;
  VirtualImageFeeder(const VirtualImageFeeder&) = delete;
  ~VirtualImageFeeder();

  /// Puts a finger showing `image` on the sensor.
  Status send_image(const GrayImage& image);

 private:
  explicit VirtualImageFeeder(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace sdbox::fingerfeed
