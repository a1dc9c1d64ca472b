// sdbox-broker: the SD-Box broker. Tunnels from boxes (mutual TLS 1.3), logins, the store, and
// the admin and ops API for staff (HTTPS with staff certificates, dashboard, /metrics).
#include "api/ops_plane.hpp"
#include "pki/crl_publisher.hpp"
#include "store/sqlite_store.hpp"
#include "tunnel/tunnel_server.hpp"

#include "sdbox/common/clock.hpp"
#include "sdbox/common/log.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>

#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace {

using namespace sdbox;

std::filesystem::path default_state() {
  const char* from_env = std::getenv("SDBOX_STATE");
  return from_env != nullptr ? from_env : "/var/lib/sdbox";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdbox-broker: the SD-Box broker"};
  std::filesystem::path state = default_state();
  std::string address = "127.0.0.1";
  std::uint16_t port = 7443;
  std::uint16_t api_port = 8443;
  std::string level;
  int idle_seconds = 60;
  int keepalive_seconds = 20;
  int renewal_days = 4 * 365 + 1;
  app.add_option("--state", state, "state directory made by sdboxctl pki init (broker.db, pki/)");
  app.add_option("--address", address, "address to listen on");
  app.add_option("--port", port, "port for box tunnels (0: any free port, logged)")->check(CLI::Range(0, 65535));
  app.add_option("--api-port", api_port, "port for the admin and ops API, staff certificates (0: any free port, logged)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--idle-timeout", idle_seconds, "close a tunnel silent for this many seconds")->check(CLI::Range(5, 3600));
  app.add_option("--keepalive", keepalive_seconds, "how often boxes ping, in seconds")->check(CLI::Range(1, 600));
  app.add_option("--enrolment-renewal-days", renewal_days, "refuse cards enrolled longer ago")->check(CLI::Range(1, 3650));
  app.add_option("--log-level", level, "trace, debug, info, warn, error");
  // The gateway program sits beside this one in a build tree and in an installation.
  std::filesystem::path gateway_program = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "sdbox-gateway";
  app.add_option("--gateway", gateway_program, "the sdbox-gateway program (one process per desktop view)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  if (::access(gateway_program.c_str(), X_OK) != 0) {
    std::cerr << "sdbox-broker: the gateway program " << gateway_program << " is missing or not executable (--gateway)\n";
    return 2;
  }
  log::init("broker", level);
  if (keepalive_seconds * 2 > idle_seconds) {
    std::cerr << "sdbox-broker: --idle-timeout must be at least twice --keepalive\n";
    return 2;
  }

  SystemClock clock;
  auto store = broker::SqliteStore::create({state / "broker.db", &clock, false});
  if (!store) {
    std::cerr << "sdbox-broker: " << store.error().describe() << " (run sdboxctl pki init first)\n";
    return 1;
  }
  boost::system::error_code error;
  const auto listen_address = boost::asio::ip::make_address(address, error);
  if (error) {
    std::cerr << "sdbox-broker: '" << address << "' is not an IP address\n";
    return 2;
  }
  boost::asio::io_context io(1);
  broker::TunnelServer::Config config;
  config.executor = io.get_executor();
  config.store = store->get();
  config.clock = &clock;
  config.pki_directory = state / "pki";
  config.policy.enrolment_renewal = std::chrono::days(renewal_days);
  config.settings.idle_timeout = std::chrono::seconds(idle_seconds);
  config.settings.keepalive_interval = std::chrono::seconds(keepalive_seconds);
  config.listen = {listen_address, port};
  broker::ProcessGatewayLauncher gateways(gateway_program);
  config.gateways = &gateways;
  broker::EndpointDesktopProvider desktops;
  config.desktops = &desktops;
  // CRLs expire (next update in 30 days): republish them from the store now and every day.
  broker::Pki pki(state / "pki");
  boost::asio::steady_timer crl_timer(io);
  std::function<void()> publish_crls = [&] {
    for (auto authority : {broker::Pki::Authority::boxes, broker::Pki::Authority::users}) {
      auto listed = broker::publish_crl(pki, **store, authority);
      if (!listed) spdlog::error("cannot republish {}: {}", pki.crl(authority).string(), listed.error().describe());
    }
    crl_timer.expires_after(std::chrono::hours(24));
    crl_timer.async_wait([&](const boost::system::error_code& waited) {
      if (!waited) publish_crls();
    });
  };
  publish_crls();
  broker::metrics::Registry registry;
  broker::metrics::BrokerMetrics metrics(registry);
  broker::OpsPlane::count_tunnel_events(config, metrics);
  auto server = broker::TunnelServer::create(config);
  if (!server) {
    std::cerr << "sdbox-broker: " << server.error().describe() << "\n";
    return 1;
  }
  auto& tunnels = **server;
  // Staff: what changes in the store (whoever changes it) is enforced on live connections at once.
  auto ops = broker::OpsPlane::create({io.get_executor(), store->get(), &tunnels, &desktops, &clock, state / "pki",
                                       {listen_address, api_port}, &registry, &metrics});
  if (!ops) {
    std::cerr << "sdbox-broker: " << ops.error().describe() << "\n";
    return 1;
  }

  tunnels.start();
  (*ops)->start();
  const auto bound = tunnels.local_endpoint();
  spdlog::info("listening {}", log::Fields().add("address", bound.address().to_string()).add("port", bound.port()));
  const auto api_bound = (*ops)->api().local_endpoint();
  spdlog::info("admin API listening {}", log::Fields().add("address", api_bound.address().to_string()).add("port", api_bound.port()));
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    spdlog::info("stopping");
    tunnels.stop();
    (*ops)->stop();
    crl_timer.cancel();
    io.stop();
  });
  io.run();
  return 0;
}
