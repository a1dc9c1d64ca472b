#include "rdp_server.hpp"

#include "report_file.hpp"

#include "sdbox/common/log.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sdbox::desktop {

namespace {

auto server_log() { return log::component("server"); }

Error errno_error(const std::string& what) { return make_error(ErrorCategory::io, what + ": " + std::strerror(errno), errno); }

/// How often the loop wakes to rewrite the report and reap finished connections.
constexpr int housekeeping_ms = 100;

}  // namespace

void block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client that vanishes mid-write must not kill the server.
  signal(SIGPIPE, SIG_IGN);
}

Result<std::unique_ptr<RdpServer>> RdpServer::create(ServerConfig config) {
  std::unique_ptr<RdpServer> server(new RdpServer(std::move(config)));

  server->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (server->listen_fd_ < 0) return errno_error("socket");
  int yes = 1;
  ::setsockopt(server->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server->config_.port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(server->listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return errno_error("cannot listen on 127.0.0.1:" + std::to_string(server->config_.port));
  }
  if (::listen(server->listen_fd_, 16) != 0) return errno_error("listen");
  socklen_t length = sizeof address;
  ::getsockname(server->listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  server->port_ = ntohs(address.sin_port);
  server->registry_.set_listening_port(server->port_);

  if (server->config_.control_path) {
    const auto& path = *server->config_.control_path;
    sockaddr_un control{};
    control.sun_family = AF_UNIX;
    if (path.string().size() >= sizeof control.sun_path) {
      return make_error(ErrorCategory::usage, "--control path is too long for a unix socket: " + path.string());
    }
    std::strncpy(control.sun_path, path.c_str(), sizeof control.sun_path - 1);
    server->control_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (server->control_fd_ < 0) return errno_error("socket");
    if (::bind(server->control_fd_, reinterpret_cast<sockaddr*>(&control), sizeof control) != 0) {
      return errno_error("cannot bind --control " + path.string());
    }
    if (::listen(server->control_fd_, 4) != 0) return errno_error("listen");
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  server->signal_fd_ = ::signalfd(-1, &signals, SFD_CLOEXEC);
  if (server->signal_fd_ < 0) return errno_error("signalfd");

  if (server->config_.report_path) {
    if (auto written = write_report_atomically(*server->config_.report_path, server->registry_.report()); !written) {
      return written.error();
    }
  }
  return server;
}

RdpServer::~RdpServer() {
  stopping_ = true;
  for (auto& worker : workers_) {
    if (worker.thread.joinable()) worker.thread.join();
  }
  for (int fd : {listen_fd_, control_fd_, signal_fd_}) {
    if (fd >= 0) ::close(fd);
  }
  if (control_fd_ >= 0 && config_.control_path) ::unlink(config_.control_path->c_str());
}

Status RdpServer::run() {
  server_log()->info("listening {}", log::Fields().add("address", "127.0.0.1").add("port", port_));
  while (true) {
    std::array<pollfd, 3> fds{{{signal_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}, {control_fd_, POLLIN, 0}}};
    int ready = ::poll(fds.data(), control_fd_ >= 0 ? 3 : 2, housekeeping_ms);
    if (ready < 0 && errno != EINTR) return errno_error("poll");
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      [[maybe_unused]] auto got = ::read(signal_fd_, &info, sizeof info);
      server_log()->info("stopping {}", log::Fields().add("signal", strsignal(static_cast<int>(info.ssi_signo))));
      break;
    }
    if ((fds[1].revents & POLLIN) != 0) accept_client();
    if (control_fd_ >= 0 && (fds[2].revents & POLLIN) != 0) serve_control_client();
    reap_finished_connections();
    write_report_if_changed();
  }
  stopping_ = true;
  for (auto& worker : workers_) worker.thread.join();
  workers_.clear();
  write_report_if_changed();
  server_log()->info("stopped");
  return {};
}

void RdpServer::accept_client() {
  int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) {
    server_log()->warn("accept failed {}", log::Fields().add("error", std::strerror(errno)));
    return;
  }
  ConnectionConfig connection{&registry_, &config_.users, &config_.identity, config_.clipboard_text, &stopping_};
  auto id = next_connection_++;
  auto done = std::make_shared<std::atomic<bool>>(false);
  workers_.push_back({std::thread([connection, client, id, done] {
                        RdpConnection(connection, client, id).run();
                        done->store(true);
                      }),
                      done});
}

void RdpServer::reap_finished_connections() {
  for (auto worker = workers_.begin(); worker != workers_.end();) {
    if (worker->done->load()) {
      worker->thread.join();
      worker = workers_.erase(worker);
    } else {
      ++worker;
    }
  }
}

void RdpServer::serve_control_client() {
  int client = ::accept4(control_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) return;
  // One short command per connection; a silent client must not stall the accept loop.
  timeval timeout{1, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string line;
  char byte = 0;
  while (line.size() < 512 && ::read(client, &byte, 1) == 1 && byte != '\n') line.push_back(byte);
  auto answer = control_command(line) + "\n";
  [[maybe_unused]] auto sent = ::write(client, answer.data(), answer.size());
  ::close(client);
  write_report_if_changed();
}

std::string RdpServer::control_command(const std::string& line) {
  auto space = line.find(' ');
  auto verb = line.substr(0, space);
  auto argument = space == std::string::npos ? std::string{} : line.substr(space + 1);
  if (verb == "ping") return "ok";
  if (verb == "report") return registry_.report().dump();
  if ((verb == "logoff" || verb == "disconnect") && !argument.empty()) {
    auto done = verb == "logoff" ? registry_.logoff(argument) : registry_.disconnect(argument);
    server_log()->info("control {}", log::Fields().add("command", verb).add("user", argument).add("ok", done.ok()));
    return done ? "ok" : "error: " + done.error().message;
  }
  return "error: unknown command (use: ping | report | logoff USER | disconnect USER)";
}

void RdpServer::write_report_if_changed() {
  if (!config_.report_path) return;
  auto version = registry_.version();
  auto now = std::chrono::steady_clock::now();
  // Unchanged reports are still refreshed once a second, so the clocks in the file stay recent.
  if (version == report_version_ && now - report_written_ < std::chrono::seconds(1)) return;
  if (auto written = write_report_atomically(*config_.report_path, registry_.report()); !written) {
    server_log()->warn("cannot write the report {}", log::Fields().add("error", written.error().describe()));
    return;
  }
  report_version_ = version;
  report_written_ = now;
}

}  // namespace sdbox::desktop
