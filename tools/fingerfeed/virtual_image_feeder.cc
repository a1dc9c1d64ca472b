#include "virtual_image_feeder.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace sdbox::fingerfeed {

namespace {
constexpr int kMaxSide = 5000;  // the driver disconnects on anything larger
}

Result<VirtualImageFeeder> VirtualImageFeeder::connect(const std::filesystem::path& socket,
                                                       std::chrono::milliseconds patience) {
  sockaddr_un address{};
  if (socket.string().size() >= sizeof address.sun_path) {
    return make_error(ErrorCategory::usage, fmt::format("socket path {} is too long", socket.string()));
  }
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(ErrorCategory::io, "cannot create a unix socket", errno);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return VirtualImageFeeder(fd);
    const int error = errno;
    ::close(fd);
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorCategory::io, fmt::format("no fingerprint sensor listens on {}", socket.string()), error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

VirtualImageFeeder::~VirtualImageFeeder() {
  if (fd_ >= 0) ::close(fd_);
}

Status VirtualImageFeeder::send_image(const GrayImage& image) {
  if (image.width <= 0 || image.height <= 0 || image.width > kMaxSide || image.height > kMaxSide ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height)) {
    return make_error(ErrorCategory::usage, "image size not accepted by the virtual sensor");
  }
  const std::int32_t header[2] = {image.width, image.height};
  Bytes message(sizeof header);
  std::memcpy(message.data(), header, sizeof header);
  append(message, image.pixels);
  std::size_t sent = 0;
  while (sent < message.size()) {
    const ssize_t n = ::send(fd_, message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCategory::io, "the virtual sensor closed the connection", errno);
    }
    sent += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace sdbox::fingerfeed
