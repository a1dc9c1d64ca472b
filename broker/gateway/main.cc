// sdbox-gateway: one box connection's RDP gateway, started by the broker. Settings (desktop
// account, TLS identity, the box's one-time credentials) arrive as one JSON object on stdin;
// events leave as JSON lines on stdout; the box's RDP stream is the socket passed as --box-fd
// (or, for benchmarks and tests, one TCP connection accepted on 127.0.0.1 with --listen-port).
#include "gateway/gateway.hpp"

#include "sdbox/common/log.hpp"

#include <CLI/CLI.hpp>
#include <winpr/ssl.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <mutex>

namespace {

int fail(const std::string& message) {
  std::cerr << "sdbox-gateway: " << message << "\n";
  return 1;
}

/// Events as JSON lines on stdout, flushed one by one: the broker reads them as they happen.
class StdoutEvents final : public sdbox::broker::GatewayEvents {
 public:
  void emit(const nlohmann::json& event) override {
    std::lock_guard lock(mutex_);
    std::cout << event.dump() << std::endl;
  }

 private:
  std::mutex mutex_;
};

/// Accepts one connection on 127.0.0.1:port (0: any free port, printed first on stdout).
int accept_one(std::uint16_t port) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return -1;
  int yes = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(listener);
    return -1;
  }
  std::cout << nlohmann::json{{"event", "listening"}, {"port", ntohs(address.sin_port)}}.dump() << std::endl;
  int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(listener);
  return connection;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdbox-gateway: serves one box only pixels and input from a project desktop; settings as JSON on stdin"};
  int box_fd = -1;
  int listen_port = -1;
  std::string log_level;
  auto* fd_option = app.add_option("--box-fd", box_fd, "the box's RDP stream (a socket the broker passes)")->check(CLI::Range(3, 1 << 20));
  auto* listen_option = app.add_option("--listen-port", listen_port, "accept one RDP client on 127.0.0.1:PORT instead (0: any)")
                            ->check(CLI::Range(0, 65535));
  fd_option->excludes(listen_option);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (default: $SDBOX_LOG_LEVEL or info)");
  CLI11_PARSE(app, argc, argv);
  if (box_fd < 0 && listen_port < 0) return fail("give --box-fd or --listen-port");

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  sdbox::log::init("gateway", log_level);

  std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  auto settings = sdbox::broker::parse_gateway_settings(text);
  if (!settings) return fail(settings.error().message);

  // FreeRDP's log (WLog) to stderr, warnings only unless WLOG_LEVEL says otherwise: stdout is
  // the event stream.
  wLog* root = WLog_GetRoot();
  WLog_SetLogAppenderType(root, WLOG_APPENDER_CONSOLE);
  WLog_ConfigureAppender(WLog_GetLogAppender(root), "outputstream", const_cast<char*>("stderr"));
  if (std::getenv("WLOG_LEVEL") == nullptr) WLog_SetLogLevel(root, WLOG_ERROR);
  winpr_InitializeSSL(WINPR_SSL_INIT_DEFAULT);

  if (listen_port >= 0) {
    box_fd = accept_one(static_cast<std::uint16_t>(listen_port));
    if (box_fd < 0) return fail("cannot accept a connection on 127.0.0.1:" + std::to_string(listen_port));
  }
  int signal_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  HANDLE stop_event = CreateFileDescriptorEventA(nullptr, FALSE, FALSE, signal_fd, WINPR_FD_READ);
  if (signal_fd < 0 || stop_event == nullptr) return fail("cannot watch for SIGTERM");

  StdoutEvents events;
  sdbox::broker::Gateway::Config config;
  config.settings = std::move(*settings);
  config.events = &events;
  config.box_socket = box_fd;
  auto gateway = sdbox::broker::Gateway::create(std::move(config));
  if (!gateway) return fail(gateway.error().message);
  (*gateway)->run(stop_event);
  gateway->reset();
  CloseHandle(stop_event);
  ::close(signal_fd);
  return 0;
}
