#pragma once

#include "gateway/gateway_settings.hpp"

#include "sdbox/common/result.hpp"

#include <sys/types.h>

#include <filesystem>
#include <optional>

namespace sdbox::broker {

/// A gateway process just started: the broker relays the box's RDP stream on `box_socket` and
/// reads the gateway's JSON-line events on `events`. Both descriptors belong to the caller.
struct LaunchedGateway {
  pid_t pid = -1;
  int box_socket = -1;
  int events = -1;
};

/// Starts one gateway per box connection, each in its own process, so a crash costs one
/// connection and never the desktop session or the broker.
class GatewayLauncher {
 public:
  virtual ~GatewayLauncher() = default;
  virtual Result<LaunchedGateway> launch(const GatewaySettings& settings) = 0;
};

/// Runs `sdbox-gateway --box-fd 3`: the box's stream on fd 3 (one end of a socketpair), the
/// settings written to its stdin (never its command line or environment), events on its stdout.
class ProcessGatewayLauncher final : public GatewayLauncher {
 public:
  explicit ProcessGatewayLauncher(std::filesystem::path program) : program_(std::move(program)) {}
  Result<LaunchedGateway> launch(const GatewaySettings& settings) override;

 private:
  std::filesystem::path program_;
};

/// Reaps a gateway that has exited, without waiting: its exit status as a shell reports it
/// (128 + signal when killed), or nothing while it still runs.
std::optional<int> try_reap_gateway(pid_t pid);

}  // namespace sdbox::broker
