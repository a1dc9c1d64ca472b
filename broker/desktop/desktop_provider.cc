#include "desktop/desktop_provider.hpp"

#include "sdbox/common/log.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sdbox::broker {

namespace {

Error logoff_error(const std::string& message) { return make_error(ErrorCategory::io, "logoff: " + message); }

}  // namespace

Status log_member_off(Store& store, DesktopProvider& desktops, const Session& session, const std::string& actor) {
  auto desktop = store.desktop(session.project);
  auto account = store.desktop_account(session.project, session.user);
  Status done = !desktop   ? Status(desktop.error())
                      : !account ? Status(account.error())
                                 : desktops.logoff(*desktop, account->login);
  nlohmann::json details{{"session", session.id}, {"user", session.user}, {"box", session.box}, {"project", session.project}};
  const auto fields = log::Fields().add("session", session.id).add("user", session.user).add("project", session.project);
  if (!done) {
    details["error"] = done.error().message;
    log::component("desktop")->error("logoff failed {} error=\"{}\"", fields, done.error().message);
  } else {
    log::component("desktop")->info("logged off {}", fields);
  }
  if (auto written = store.audit({actor, "desktop.logoff", done ? "ok" : "failed", details}); !written) {
    log::component("desktop")->error("audit failed action=desktop.logoff error=\"{}\"", written.error().describe());
  }
  return done;
}

Status EndpointDesktopProvider::logoff(const Desktop& desktop, const std::string& login) {
  if (desktop.logoff_endpoint.empty()) return logoff_error("the desktop of '" + desktop.project + "' has no logoff endpoint");
  if (desktop.logoff_endpoint.rfind("unix:/", 0) != 0) return logoff_error("unsupported endpoint " + desktop.logoff_endpoint);
  if (login.empty() || login.find_first_of(" \r\n") != std::string::npos) return logoff_error("not a login: '" + login + "'");
  const std::string path = desktop.logoff_endpoint.substr(5);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return logoff_error("endpoint path too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return logoff_error(std::strerror(errno));
  timeval limit{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return logoff_error("cannot reach " + desktop.logoff_endpoint + ": " + why);
  }
  const std::string command = "logoff " + login + "\n";
  bool sent = ::send(fd, command.data(), command.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(command.size());
  std::string reply;
  char byte = 0;
  while (sent && reply.size() < 512 && ::recv(fd, &byte, 1, 0) == 1 && byte != '\n') reply += byte;
  ::close(fd);
  if (!sent) return logoff_error("cannot send to " + desktop.logoff_endpoint);
  if (reply != "ok") return logoff_error(reply.empty() ? "no answer from " + desktop.logoff_endpoint : reply);
  return {};
}

}  // namespace sdbox::broker
