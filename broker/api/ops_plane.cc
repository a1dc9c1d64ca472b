#include "api/ops_plane.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace sdbox::broker {

void OpsPlane::count_tunnel_events(TunnelServer::Config& tunnel_config, metrics::BrokerMetrics& metrics) {
  tunnel_config.login_finished = [&metrics](const std::string& outcome, std::chrono::duration<double> took) {
    if (outcome == "success") metrics.login_succeeded(took);
    else metrics.login_refused(outcome);
  };
  tunnel_config.channel_blocked = [&metrics](const std::string& channel) {
    // Channel names come from the box's client: a hostile one must not mint series without end.
    static constexpr std::array<std::string_view, 12> kKnown = {"cliprdr", "rdpdr",   "rdpsnd",  "drdynvc",
                                                                "rail",    "rail_wi", "rail_ri", "encomsp",
                                                                "remdesk", "rdp2tcp", "echo",    "disp"};
    const bool known = std::find(kKnown.begin(), kKnown.end(), channel) != kKnown.end();
    metrics.blocked_channel_attempt(known ? channel : "other");
  };
}

OpsPlane::OpsPlane(Config config) : config_(std::move(config)), timer_(config_.executor) {}

OpsPlane::~OpsPlane() { stop(); }

Result<std::unique_ptr<OpsPlane>> OpsPlane::create(Config config) {
  if (config.store == nullptr || config.tunnels == nullptr || config.desktops == nullptr || config.clock == nullptr ||
      config.registry == nullptr || config.metrics == nullptr) {
    throw std::invalid_argument("OpsPlane needs a store, the tunnel server, a desktop provider, a clock and metrics");
  }
  std::unique_ptr<OpsPlane> plane(new OpsPlane(std::move(config)));
  auto& self = *plane;
  auto& metrics = *self.config_.metrics;
  auto* tunnels = self.config_.tunnels;
  metrics.read_tunnels_open_from([tunnels] { return static_cast<double>(tunnels->open_tunnels()); });
  metrics.read_gateway_processes_from([tunnels] { return static_cast<double>(tunnels->gateway_processes()); });
  self.alerts_.emplace(AlertMonitor::Config{self.config_.store, tunnels, self.config_.clock});
  self.enforcer_.emplace(AccessEnforcer::Config{self.config_.store, tunnels, self.config_.clock,
                                                [&metrics](const std::string& reason, std::chrono::duration<double> took) {
                                                  metrics.revocation_enforced(reason, took);
                                                }});
  self.follower_ = AuditFollower::create({self.config_.executor, self.config_.store, self.config_.audit_poll});
  ApiRoutes::Config routes;
  routes.store = self.config_.store;
  routes.live = tunnels;
  routes.desktops = self.config_.desktops;
  routes.alerts = &*self.alerts_;
  routes.clock = self.config_.clock;
  routes.pki_directory = self.config_.pki_directory;
  routes.metrics = [&self] { return self.render_metrics(); };
  routes.changed = [&self] { self.follower_->poke(); };
  self.routes_.emplace(routes);
  ApiServer::Config api_config{self.config_.executor, self.config_.listen, self.config_.pki_directory, &*self.routes_,
                               [&metrics](int status) { metrics.api_request(status); }};
  api_config.handshake_timeout = self.config_.api_handshake_timeout;
  api_config.idle_timeout = self.config_.api_idle_timeout;
  auto api = ApiServer::create(std::move(api_config));
  if (!api) return api.error();
  self.api_ = std::move(*api);
  self.follower_->listen([&self](const std::vector<AuditRecord>& records) {
    self.enforcer_->on_records(records);
    self.alerts_->on_records(records);
    self.api_->state_changed();
  });
  return plane;
}

void OpsPlane::start() {
  api_->start();
  follower_->start();
  check_periodically();
}

void OpsPlane::stop() {
  if (stopped_) return;
  stopped_ = true;
  timer_.cancel();
  if (follower_) follower_->stop();
  if (api_) api_->stop();
}

std::string OpsPlane::render_metrics() {
  std::int64_t active = 0;
  if (auto sessions = config_.store->active_sessions()) active = static_cast<std::int64_t>(sessions->size());
  const auto connected = static_cast<std::int64_t>(config_.tunnels->views().size());
  config_.metrics->sessions(connected, std::max<std::int64_t>(0, active - connected));
  if (auto head = config_.store->audit_head()) config_.metrics->audit_records(*head);
  return config_.registry->render();
}

void OpsPlane::check_periodically() {
  if (stopped_) return;
  alerts_->check_boxes();
  const auto now = std::chrono::steady_clock::now();
  if (now - last_chain_check_ >= config_.chain_check) {
    last_chain_check_ = now;
    alerts_->check_audit_chain();
  }
  api_->state_changed();  // last-seen times move on even when nothing else does
  timer_.expires_after(config_.box_check);
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) check_periodically();
  });
}

}  // namespace sdbox::broker
