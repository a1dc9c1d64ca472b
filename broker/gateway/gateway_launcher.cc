#include "gateway/gateway_launcher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

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
    stop_gateway(pid, std::chrono::milliseconds(500));
    return make_error(ErrorCategory::io, "cannot hand the gateway its settings (" + program + " did not start?)");
  }
  return LaunchedGateway{pid, box_pair[0], events_pipe[0]};
}

namespace {

int wait_for_exit(pid_t pid, std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return shell_status(status);
    if (done < 0 && errno != EINTR) return -1;  // not our child any more
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return shell_status(status);
}

}  // namespace

int stop_gateway(pid_t pid, std::chrono::milliseconds patience) {
  if (pid <= 0) return -1;
  ::kill(pid, SIGTERM);
  return wait_for_exit(pid, patience);
}

int reap_gateway(pid_t pid, std::chrono::milliseconds patience) {
  if (pid <= 0) return -1;
  return wait_for_exit(pid, patience);
}

}  // namespace sdbox::broker
