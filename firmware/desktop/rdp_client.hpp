#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace sdbox::firmware {

/// Where the box's RDP client connects: the DesktopLink's socket, and what "session ready" gave
/// for this view (the gateway's certificate pin and one-time credentials).
struct RdpTarget {
  std::filesystem::path socket;
  std::string user;
  std::string password;
  std::string certificate_sha256;
};

/// The box's RDP client: one view at a time, every redirection off. Its library runs its own
/// loop, so implementations run it on an adapter thread and post events to the firmware's
/// executor.
class RdpClient {
 public:
  struct Events {
    std::function<void()> first_frame;                ///< the desktop is on screen
    std::function<void(const std::string&)> ended;    ///< the client stopped on its own (why)
  };
  virtual ~RdpClient() = default;
  /// Starts a view (a running one is stopped first).
  virtual void start(const RdpTarget& target, Events events) = 0;
  /// Ends the view at once (card pulled, view ended); returns when the client is gone. No event
  /// follows.
  virtual void stop() = 0;
  /// True between start and the end of the client's thread.
  [[nodiscard]] virtual bool running() const = 0;
  /// A key for the desktop: RDP keyboard flags (0x8000 = release) and a set-1 scancode.
  virtual void send_key(std::uint16_t flags, std::uint16_t scancode) = 0;
};

}  // namespace sdbox::firmware
