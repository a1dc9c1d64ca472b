#pragma once

#include "sdbox/common/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

/// An RDP client (libfreerdp-client2) that renders into memory and loads no virtual channel at
/// all: no clipboard, no drives, no printers, no smartcard, no audio, no dynamic channels. The
/// broker's gateway uses it towards the project desktop; the box uses it towards the gateway.
namespace sdbox::rdp {

struct ViewerConfig {
  /// Host name or address; a path starting with '/' is a unix socket (FreeRDP's own convention).
  std::string host;
  std::uint16_t port = 3389;
  std::string user;
  std::string password;
  std::string domain;
  std::uint32_t width = 1280;
  std::uint32_t height = 800;
  /// SHA-256 of the server certificate (DER), lowercase hex. Empty accepts any certificate
  /// (only for a desktop reached on the broker's own network); otherwise anything else is refused.
  std::string pinned_certificate_sha256;
  std::chrono::milliseconds connect_timeout{10000};
};

/// A rectangle of the frame that changed.
struct Rect {
  std::uint32_t x = 0;
  std::uint32_t y = 0;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  bool operator==(const Rect&) const = default;
};

/// The frame buffer: 32-bit BGRX pixels, row by row, `stride` bytes apart.
struct FrameView {
  const std::uint8_t* pixels = nullptr;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t stride = 0;
  /// The pixel at (x, y) as 0xRRGGBB.
  [[nodiscard]] std::uint32_t rgb(std::uint32_t x, std::uint32_t y) const;
};

class Viewer {
 public:
  /// Connects (TCP or unix socket, TLS, the RDP handshake) and waits for the first picture;
  /// blocks up to the connect timeout.
  static Result<std::unique_ptr<Viewer>> connect(const ViewerConfig& config);
  Viewer(const Viewer&) = delete;
  Viewer& operator=(const Viewer&) = delete;
  ~Viewer();

  /// WinPR handles to wait on (WaitForMultipleObjects) before calling `process`.
  std::size_t event_handles(std::span<void*> handles);
  /// Handles what arrived. A failure means the connection is over (the message says why).
  Status process();
  /// Waits up to `timeout` for something to arrive, then processes it.
  Status pump(std::chrono::milliseconds timeout);

  /// The rectangles painted since the last call, then forgets them.
  std::vector<Rect> take_painted();
  [[nodiscard]] FrameView frame() const;
  /// Paint operations finished so far (one per server update).
  [[nodiscard]] std::uint64_t paints() const;

  Status send_keyboard(std::uint16_t flags, std::uint16_t scancode);
  Status send_unicode(std::uint16_t flags, std::uint16_t code);
  Status send_mouse(std::uint16_t flags, std::uint16_t x, std::uint16_t y);
  Status send_extended_mouse(std::uint16_t flags, std::uint16_t x, std::uint16_t y);
  Status send_synchronize(std::uint32_t toggle_flags);
  /// Asks the server to stop (or start again) sending frames, as a minimised client does.
  Status suppress_output(bool suppress);

  /// Ends the connection (idempotent).
  void disconnect();

 private:
  struct State;
  explicit Viewer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

/// SHA-256 of a PEM certificate's DER encoding, lowercase hex.
Result<std::string> certificate_sha256_from_pem(std::string_view pem);

}  // namespace sdbox::rdp
