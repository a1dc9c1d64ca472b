#include "gateway/gateway_launcher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sdbox::broker {

namespace {

Error launch_error(const std::string& what) {
  return make_error(ErrorCategory::io, "cannot start the gateway: " + what + ": " + std::strerror(errno), errno);
}

void close_all(std::initializer_list<int> descriptors) {
  for (int fd : descriptors) {
    if (fd >= 0) ::close(fd);
  }
}

int shell_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Result<LaunchedGateway> ProcessGatewayLauncher::launch(const GatewaySettings& settings) {
  int box_pair[2] = {-1, -1};
  int settings_pipe[2] = {-1, -1};
  int events_pipe[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, box_pair) != 0) return launch_error("socketpair");
  if (::pipe2(settings_pipe, O_CLOEXEC) != 0) {
    close_all({box_pair[0], box_pair[1]});
    return launch_error("pipe");
  }
  if (::pipe2(events_pipe, O_CLOEXEC) != 0) {
    close_all({box_pair[0], box_pair[1], settings_pipe[0], settings_pipe[1]});
    return launch_error("pipe");
  }
  const std::string program = program_.string();
  pid_t pid = ::fork();
  if (pid < 0) {
    close_all({box_pair[0], box_pair[1], settings_pipe[0], settings_pipe[1], events_pipe[0], events_pipe[1]});
    return launch_error("fork");
  }
  if (pid == 0) {
    // The child: stdin = settings, stdout = events, fd 3 = the box's stream; stderr is the
    // broker's own (the gateway's log lines join the broker's). dup2 clears FD_CLOEXEC.
    ::dup2(settings_pipe[0], STDIN_FILENO);
    ::dup2(events_pipe[1], STDOUT_FILENO);
    ::dup2(box_pair[1], 3);
    // Nothing else of the broker's (other tunnels, the store, the listening socket) may reach it.
    ::close_range(4, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const char* argv[] = {program.c_str(), "--box-fd", "3", nullptr};
    ::execv(program.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  close_all({box_pair[1], settings_pipe[0], events_pipe[1]});
  // A few KiB: the pipe holds it all, so this write does not wait for the child.
  const std::string text = serialise_gateway_settings(settings);
  std::size_t written = 0;
  while (written < text.size()) {
    auto n = ::write(settings_pipe[1], text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  ::close(settings_pipe[1]);
  if (written < text.size()) {
    close_all({box_pair[0], events_pipe[0]});
    // It never got its settings: nothing of it is worth waiting for.
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return make_error(ErrorCategory::io, "cannot hand the gateway its settings (" + program + " did not start?)");
  }
  return LaunchedGateway{pid, box_pair[0], events_pipe[0]};
}

std::optional<int> try_reap_gateway(pid_t pid) {
  int status = 0;
  pid_t done = -1;
  do {
    done = ::waitpid(pid, &status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done == pid) return shell_status(status);
  if (done < 0) return -1;  // not our child (any more)
  return std::nullopt;
}

}  // namespace sdbox::broker
