// sdbox-test-desktop: an RDP server standing in for a project's virtual desktop in tests. One
// session per user that survives disconnects, a canvas that shows the session clock and the last
// input, and a JSON report of every channel a client joined (clipboard text and device
// redirection are actively offered, so a test can prove a gateway lets nothing through).
#include "rdp_server.hpp"

#include "sdbox/common/log.hpp"

#include <CLI/CLI.hpp>
#include <freerdp/channels/channels.h>
#include <winpr/ssl.h>
#include <winpr/wlog.h>
#include <winpr/wtsapi.h>

#include <iostream>

namespace {

int fail(const std::string& message) {
  std::cerr << "sdbox-test-desktop: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sdbox::desktop;
  CLI::App app{"sdbox-test-desktop: an RDP server (TLS, no NLA) that stands in for a project desktop in tests"};
  int port = 3389;
  std::filesystem::path users_path, cert_path, key_path, report_path, control_path;
  std::string clipboard_text = "sdbox-test-desktop clipboard: this text must never reach the box";
  std::string log_level;
  app.add_option("--port", port, "TCP port on 127.0.0.1; 0 picks a free one (printed as 'listening port=N')")
      ->check(CLI::Range(0, 65535));
  app.add_option("--users", users_path, "file of user:password lines")->required()->check(CLI::ExistingFile);
  auto* cert = app.add_option("--cert", cert_path, "TLS certificate (PEM); default: a fresh self-signed one")->check(CLI::ExistingFile);
  auto* key = app.add_option("--key", key_path, "TLS private key (PEM) for --cert")->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--report", report_path, "JSON report of sessions and channels, rewritten atomically on change");
  app.add_option("--control", control_path, "unix socket for commands: ping, report, logoff USER, disconnect USER");
  app.add_option("--clipboard-text", clipboard_text, "the text offered on the clipboard channel");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (default: $SDBOX_LOG_LEVEL or info)");
  CLI11_PARSE(app, argc, argv);

  block_stop_signals();
  sdbox::log::init("test-desktop", log_level);

  auto users = UserDirectory::load(users_path);
  if (!users) return fail(users.error().message);
  auto identity = cert_path.empty() ? TlsIdentity::generate() : TlsIdentity::load(cert_path, key_path);
  if (!identity) return fail(identity.error().describe());
  if (!control_path.empty() && std::filesystem::exists(control_path)) {
    return fail("--control " + control_path.string() + " already exists (another test desktop, or a stale socket)");
  }

  // FreeRDP's own log (WLog) goes to stdout by default: move it to stderr, where ours is, so the
  // first stdout line stays ours; and keep it to warnings unless WLOG_LEVEL asks for more.
  wLog* root = WLog_GetRoot();
  WLog_SetLogAppenderType(root, WLOG_APPENDER_CONSOLE);
  WLog_ConfigureAppender(WLog_GetLogAppender(root), "outputstream", const_cast<char*>("stderr"));
  if (std::getenv("WLOG_LEVEL") == nullptr) WLog_SetLogLevel(root, WLOG_WARN);

  // The WTS API of WinPR dispatches to FreeRDP's server-side virtual channel manager.
  WTSRegisterWtsApiFunctionTable(FreeRDP_InitWtsApi());
  winpr_InitializeSSL(WINPR_SSL_INIT_DEFAULT);

  ServerConfig config;
  config.port = static_cast<std::uint16_t>(port);
  config.users = std::move(*users);
  config.identity = std::move(*identity);
  config.clipboard_text = clipboard_text;
  if (!report_path.empty()) config.report_path = report_path;
  if (!control_path.empty()) config.control_path = control_path;
  auto server = RdpServer::create(std::move(config));
  if (!server) return fail(server.error().message);

  // The first stdout line is the contract with test scripts: they read the port from it.
  std::cout << "listening port=" << (*server)->port() << std::endl;
  if (auto served = (*server)->run(); !served) return fail(served.error().describe());
  return 0;
}
