#include "vpcd_link.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <thread>

namespace sdbox::softcard {

namespace {

constexpr std::uint8_t kPowerOff = 0x00;
constexpr std::uint8_t kPowerOn = 0x01;
constexpr std::uint8_t kReset = 0x02;
constexpr std::uint8_t kAtrRequest = 0x04;

Error io_error(std::string message) { return make_error(ErrorCategory::io, std::move(message), errno); }

// vpcd sends length and body in separate writes with Nagle on; without QUICKACK after every
// read each APDU waits for a delayed ACK (~40 ms).
void quick_ack(int fd) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
}

/// Reads exactly `size` bytes; false on EOF/error or when stop is raised while waiting.
Result<bool> read_exact(int fd, std::uint8_t* out, std::size_t size, const std::atomic<bool>& stop) {
  std::size_t done = 0;
  while (done < size) {
    pollfd waiting{fd, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, 200);
    if (stop.load()) return false;
    if (ready < 0) {
      if (errno == EINTR) continue;
      return io_error("poll on the vpcd connection");
    }
    if (ready == 0) continue;
    const ssize_t n = ::recv(fd, out + done, size - done, 0);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("reading from vpcd");
    }
    quick_ack(fd);
    done += static_cast<std::size_t>(n);
  }
  return true;
}

Status write_frame(int fd, ByteView payload) {
  if (payload.size() > 0xFFFF) return make_error(ErrorCategory::io, "frame larger than 65535 bytes");
  Bytes frame{static_cast<std::uint8_t>(payload.size() >> 8), static_cast<std::uint8_t>(payload.size())};
  append(frame, payload);
  std::size_t done = 0;
  while (done < frame.size()) {
    const ssize_t n = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("writing to vpcd");
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

VpcdLink::~VpcdLink() { close(); }

void VpcdLink::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Status VpcdLink::connect(std::chrono::milliseconds patience) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string port = std::to_string(port_);
  if (const int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &addresses); rc != 0) {
    return make_error(ErrorCategory::io, fmt::format("cannot resolve {}: {}", host_, gai_strerror(rc)));
  }
  const auto deadline = std::chrono::steady_clock::now() + patience;
  Status outcome = make_error(ErrorCategory::io, fmt::format("vpcd at {}:{} did not accept", host_, port_));
  while (true) {
    for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
      const int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC, address->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, address->ai_addr, address->ai_addrlen) == 0) {
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        fd_ = fd;
        ::freeaddrinfo(addresses);
        return {};
      }
      outcome = io_error(fmt::format("cannot connect to vpcd at {}:{}", host_, port_));
      ::close(fd);
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::freeaddrinfo(addresses);
  return outcome;
}

Status VpcdLink::serve(const CardHandlers& handlers, const std::atomic<bool>& stop) {
  if (fd_ < 0) return make_error(ErrorCategory::usage, "serve() before connect()");
  Bytes payload;
  while (!stop.load()) {
    std::uint8_t header[2];
    auto got = read_exact(fd_, header, sizeof header, stop);
    if (!got) return got.error();
    if (!*got) return {};
    const std::size_t length = (std::size_t{header[0]} << 8) | header[1];
    payload.assign(length, 0);
    got = read_exact(fd_, payload.data(), length, stop);
    if (!got) return got.error();
    if (!*got) return {};
    if (length == 1) {
      switch (payload[0]) {
        case kPowerOff:
        case kPowerOn:
        case kReset:
          handlers.on_power_change();
          break;
        case kAtrRequest:
          if (auto sent = write_frame(fd_, handlers.atr()); !sent) return sent;
          break;
        default:
          break;  // unknown control codes are ignored, as vpcd's own emulators do
      }
      continue;
    }
    const Bytes response = handlers.on_apdu(payload);
    if (auto sent = write_frame(fd_, response); !sent) return sent;
  }
  return {};
}

}  // namespace sdbox::softcard
