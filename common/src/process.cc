#include "sdbox/common/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <thread>

namespace sdbox {

namespace {

int shell_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return 255;
}

[[noreturn]] void exec_child(const ProcessSpec& spec) {
  // Only async-signal-safe work would be strictly correct here; the parent is single-purpose
  // tooling and the calls below are what every launcher does after fork.
  for (const auto& [name, value] : spec.environment) ::setenv(name.c_str(), value.c_str(), 1);
  if (spec.listen_fd) {
    if (*spec.listen_fd != 3) {
      ::dup2(*spec.listen_fd, 3);
    } else {
      ::fcntl(3, F_SETFD, 0);
    }
    ::setenv("LISTEN_FDS", "1", 1);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::unsetenv("LISTEN_FDNAMES");
  }
  if (spec.output) {
    const int fd = ::open(spec.output->c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      if (fd > STDERR_FILENO) ::close(fd);
    }
  }
  std::vector<char*> argv;
  for (const auto& argument : spec.argv) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
  ::_exit(127);
}

}  // namespace

Result<Process> Process::spawn(const ProcessSpec& spec) {
  if (spec.argv.empty()) return make_error(ErrorCategory::usage, "no program to run");
  const pid_t pid = ::fork();
  if (pid < 0) return make_error(ErrorCategory::io, fmt::format("cannot start {}", spec.argv[0]), errno);
  if (pid == 0) {
    // Restore default signal handling and an empty mask for the child.
    sigset_t empty;
    sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    exec_child(spec);
  }
  return Process(pid);
}

Process::Process(Process&& other) noexcept : pid_(other.pid_), status_(other.status_) { other.pid_ = -1; }

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !status_) stop();
    pid_ = other.pid_;
    status_ = other.status_;
    other.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && !status_) stop();
}

std::optional<int> Process::reap(bool block) {
  if (status_ || pid_ <= 0) return status_;
  int raw = 0;
  pid_t done = 0;
  do {
    done = ::waitpid(pid_, &raw, block ? 0 : WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done == pid_) status_ = shell_status(raw);
  if (done < 0) status_ = 255;  // not our child any more; nothing left to wait for
  return status_;
}

bool Process::running() { return !reap(false).has_value(); }

int Process::wait() { return *reap(true); }

std::optional<int> Process::wait_for(std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    if (auto status = reap(false)) return status;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Process::signal(int signal_number) const {
  if (pid_ > 0 && !status_) ::kill(pid_, signal_number);
}

int Process::stop(std::chrono::milliseconds patience) {
  if (pid_ <= 0) return 255;
  if (status_) return *status_;
  signal(SIGTERM);
  if (auto status = wait_for(patience)) return *status;
  signal(SIGKILL);
  return wait();
}

}  // namespace sdbox
