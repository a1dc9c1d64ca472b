#pragma once

#include "api/api_routes.hpp"
#include "api/api_server.hpp"
#include "desktop/desktop_provider.hpp"
#include "metrics/metrics.hpp"
#include "ops/access_enforcer.hpp"
#include "ops/alert_monitor.hpp"
#include "ops/audit_follower.hpp"
#include "tunnel/tunnel_server.hpp"

#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>

namespace sdbox::broker {

/// The staff side of a broker, wired as sdbox-broker runs it: the audit trail followed, changes
/// enforced on live connections, alerts, metrics, and the HTTPS API with its dashboard.
class OpsPlane {
 public:
  struct Config {
    boost::asio::any_io_executor executor;
    Store* store = nullptr;
    TunnelServer* tunnels = nullptr;
    DesktopProvider* desktops = nullptr;
    const Clock* clock = nullptr;
    std::filesystem::path pki_directory;
    boost::asio::ip::tcp::endpoint listen;
    metrics::Registry* registry = nullptr;
    metrics::BrokerMetrics* metrics = nullptr;
    std::chrono::milliseconds audit_poll{200};
    std::chrono::seconds box_check{5};
    std::chrono::seconds chain_check{60};
    /// The API's limits on a connection's TLS handshake and on the wait for each request.
    std::chrono::seconds api_handshake_timeout{10};
    std::chrono::seconds api_idle_timeout{60};
  };

  /// Makes the tunnel server count logins and blocked channels (call before TunnelServer::create).
  static void count_tunnel_events(TunnelServer::Config& tunnel_config, metrics::BrokerMetrics& metrics);

  /// Binds the API's port; throws on a bug in the wiring.
  static Result<std::unique_ptr<OpsPlane>> create(Config config);
  ~OpsPlane();
  OpsPlane(const OpsPlane&) = delete;
  OpsPlane& operator=(const OpsPlane&) = delete;

  void start();
  void stop();
  [[nodiscard]] ApiServer& api() { return *api_; }
  [[nodiscard]] AlertMonitor& alerts() { return *alerts_; }
  [[nodiscard]] AuditFollower& follower() { return *follower_; }

 private:
  explicit OpsPlane(Config config);
  std::string render_metrics();
  void check_periodically();

  Config config_;
  std::optional<AlertMonitor> alerts_;
  std::optional<AccessEnforcer> enforcer_;
  std::shared_ptr<AuditFollower> follower_;
  std::optional<ApiRoutes> routes_;
  std::unique_ptr<ApiServer> api_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point last_chain_check_{};
  bool stopped_ = false;
};

}  // namespace sdbox::broker
