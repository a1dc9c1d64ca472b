#pragma once

#include "sdbox/rdp/viewer.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace sdbox::bench {

/// The box's whole path to a desktop, in this process: a broker (PKI, SQLite store, tunnel server
/// starting a real sdbox-gateway per view), a box's tunnel logged in with a software card, and the
/// box's DesktopLink on a unix socket. A Viewer given `box_config()` is then where a box's RDP
/// client is: its stream crosses the link, the tunnel, the broker's relay and the gateway.
class BrokerPath {
 public:
  struct Desktop {
    std::uint16_t port = 0;
    std::string certificate_sha256;
    std::string user;
    std::string password;
  };
  /// Builds it all and logs in; throws std::runtime_error (the bench's own failures) if it cannot.
  BrokerPath(const std::string& gateway_program, const std::filesystem::path& directory, const Desktop& desktop);
  ~BrokerPath();
  BrokerPath(const BrokerPath&) = delete;
  BrokerPath& operator=(const BrokerPath&) = delete;

  [[nodiscard]] rdp::ViewerConfig box_config() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sdbox::bench
