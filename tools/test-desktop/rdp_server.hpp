#pragma once

#include "rdp_connection.hpp"
#include "session_registry.hpp"
#include "tls_identity.hpp"
#include "user_directory.hpp"

#include "sdbox/common/result.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <optional>
#include <string>
#include <thread>

namespace sdbox::desktop {

struct ServerConfig {
  std::uint16_t port = 0;  ///< 0: the kernel picks a free port
  UserDirectory users;
  TlsIdentity identity;
  std::string clipboard_text;
  std::optional<std::filesystem::path> report_path;
  std::optional<std::filesystem::path> control_path;
};

/// The test desktop's process: listens on 127.0.0.1, serves each RDP client on its own thread,
/// answers the control socket, rewrites the report when something changed, and stops cleanly on
/// SIGTERM/SIGINT (which it expects blocked in every thread, see block_stop_signals).
class RdpServer {
 public:
  /// Binds the sockets; after this `port()` is known.
  static Result<std::unique_ptr<RdpServer>> create(ServerConfig config);
  ~RdpServer();

  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// Serves until a stop signal; returns when every connection thread has finished.
  Status run();

 private:
  explicit RdpServer(ServerConfig config) : config_(std::move(config)) {}
  void accept_client();
  void serve_control_client();
  [[nodiscard]] std::string control_command(const std::string& line);
  void write_report_if_changed();
  void reap_finished_connections();

  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  ServerConfig config_;
  SessionRegistry registry_;
  std::atomic<bool> stopping_{false};
  int listen_fd_ = -1;
  int control_fd_ = -1;
  int signal_fd_ = -1;
  std::uint16_t port_ = 0;
  std::uint64_t next_connection_ = 1;
  std::uint64_t report_version_ = 0;
  std::chrono::steady_clock::time_point report_written_{};
  std::list<Worker> workers_;
};

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts later, so only
/// the server's signalfd sees them. Call first thing in main.
void block_stop_signals();

}  // namespace sdbox::desktop
