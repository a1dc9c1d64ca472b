#pragma once

#include "desktop/desktop_provider.hpp"
#include "gateway/gateway_launcher.hpp"
#include "login/login_session.hpp"
#include "tunnel/live_connections.hpp"
#include "pki/pki.hpp"
#include "store/store.hpp"

#include "sdbox/common/clock.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace sdbox::broker {

struct TunnelSettings {
  std::chrono::seconds handshake_timeout{10};
  /// No frame at all (pings included) for this long and the tunnel is closed.
  std::chrono::seconds idle_timeout{60};
  /// Told to the box in the broker's hello: how often to ping.
  std::chrono::seconds keepalive_interval{20};
};

/// The TLS identity this broker's gateways show the boxes; they pin its SHA-256, which the
/// session_ready frame carries. Made fresh at each start: nothing to store, rotate or steal.
struct GatewayIdentity {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string certificate_sha256;
  static Result<GatewayIdentity> generate();
};

/// Refusal reasons of the tunnel itself (before any login), as audited and sent to the box.
namespace tunnel_refusal {
inline constexpr const char* kBoxUnknown = "box_unknown";
inline constexpr const char* kBoxRevoked = "box_revoked";
inline constexpr const char* kCertificateReplaced = "box_certificate_replaced";
inline constexpr const char* kCertificateExpired = "certificate_expired";
inline constexpr const char* kCertificateNotYetValid = "certificate_not_yet_valid";
inline constexpr const char* kWrongCa = "wrong_ca";
inline constexpr const char* kNoCertificate = "no_certificate";
inline constexpr const char* kHandshakeFailed = "tls_handshake_failed";
inline constexpr const char* kTimeout = "timeout";
inline constexpr const char* kProtocol = "protocol_error";
}  // namespace tunnel_refusal

/// The broker's tunnel endpoint: TLS 1.3 only, P-256, a client certificate from the boxes CA
/// required and checked against the CRL (reloaded when the file changes) and then against the
/// store; one coroutine per tunnel speaking the frame protocol with keepalives and timeouts.
class TunnelServer : public LiveConnections {
 public:
  struct Config {
    boost::asio::any_io_executor executor;
    Store* store = nullptr;
    const Clock* clock = nullptr;
    std::filesystem::path pki_directory;
    LoginPolicy policy;
    TunnelSettings settings;
    boost::asio::ip::tcp::endpoint listen;
    /// Starts one gateway process per desktop view (after "session ready").
    GatewayLauncher* gateways = nullptr;
    /// Ends desktop sessions when a box closes its session (logoff).
    DesktopProvider* desktops = nullptr;
    /// Told each login's outcome and duration (metrics); may be empty.
    std::function<void(const std::string& outcome, std::chrono::duration<double> took)> login_finished{};
    /// Told each blocked-channel attempt a gateway reports (metrics); may be empty.
    std::function<void(const std::string& channel)> channel_blocked{};
  };

  /// Loads the server certificate, the boxes CA and CRL, the users CA; binds the port.
  static Result<std::unique_ptr<TunnelServer>> create(Config config);
  ~TunnelServer() override = default;

  /// Starts accepting on the executor.
  virtual void start() = 0;
  /// Stops accepting and closes every tunnel.
  virtual void stop() = 0;
  [[nodiscard]] virtual boost::asio::ip::tcp::endpoint local_endpoint() const = 0;
  [[nodiscard]] virtual std::size_t open_tunnels() const = 0;
  /// Gateway processes running now (one per open view).
  [[nodiscard]] virtual std::size_t gateway_processes() const = 0;
};

}  // namespace sdbox::broker
