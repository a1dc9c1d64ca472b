#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace sdbox::softcard {

/// What the card does when the reader talks to it.
struct CardHandlers {
  std::function<void()> on_power_change;                 ///< power on, power off, reset
  std::function<Bytes()> atr;                            ///< ATR request
  std::function<Bytes(ByteView command)> on_apdu;        ///< command APDU -> response APDU
};

/// The emulator side of vsmartcard's vpcd protocol: connects to the vpcd reader driver in pcscd
/// (which listens), then answers its messages. Each message both ways is a 2-byte big-endian
/// length and a payload; a 1-byte payload from vpcd is a control code, anything longer is an APDU.
class VpcdLink {
 public:
  VpcdLink(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}
  ~VpcdLink();
  VpcdLink(const VpcdLink&) = delete;
  VpcdLink& operator=(const VpcdLink&) = delete;

  /// Connects, retrying until `patience` runs out (pcscd may still be loading the driver).
  [[nodiscard]] Status connect(std::chrono::milliseconds patience);

  /// Serves vpcd until it closes the connection (returns ok) or `stop` becomes true.
  [[nodiscard]] Status serve(const CardHandlers& handlers, const std::atomic<bool>& stop);

  /// Closing the socket is what "card removed" means to vpcd.
  void close();

 private:
  std::string host_;
  std::uint16_t port_;
  int fd_ = -1;
};

}  // namespace sdbox::softcard
