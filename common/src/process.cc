#include "sdbox/common/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <string_view>
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

/// Everything the child needs, prepared before fork: after fork in a threaded process only
/// async-signal-safe calls are allowed (no malloc, so no setenv, no std::string).
struct ChildPlan {
  std::vector<std::string> environment_storage;
  std::vector<char*> environment;
  std::vector<char*> argv;
  char* listen_pid_digits = nullptr;  // points into the LISTEN_PID= entry, filled in the child
  std::string output_path;
};

ChildPlan plan_child(const ProcessSpec& spec) {
  ChildPlan plan;
  std::map<std::string, std::string> merged;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    merged[std::string(text.substr(0, equals))] = std::string(text.substr(equals + 1));
  }
  for (const auto& [name, value] : spec.environment) merged[name] = value;
  merged.erase("LISTEN_FDS");
  merged.erase("LISTEN_PID");
  merged.erase("LISTEN_FDNAMES");
  if (spec.listen_fd) merged["LISTEN_FDS"] = "1";
  for (const auto& [name, value] : merged) {
    std::string entry = name;
    entry += '=';
    entry += value;
    plan.environment_storage.push_back(std::move(entry));
  }
  if (spec.listen_fd) plan.environment_storage.emplace_back("LISTEN_PID=" + std::string(20, '\0'));
  for (auto& entry : plan.environment_storage) plan.environment.push_back(entry.data());
  plan.environment.push_back(nullptr);
  if (spec.listen_fd) plan.listen_pid_digits = plan.environment_storage.back().data() + std::strlen("LISTEN_PID=");
  for (const auto& argument : spec.argv) plan.argv.push_back(const_cast<char*>(argument.c_str()));
  plan.argv.push_back(nullptr);
  if (spec.output) plan.output_path = spec.output->string();
  return plan;
}

void write_decimal(char* out, long value) {
  char reversed[24];
  int count = 0;
  do {
    reversed[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  for (int i = 0; i < count; ++i) out[i] = reversed[count - 1 - i];
  out[count] = '\0';
}

[[noreturn]] void exec_child(const ProcessSpec& spec, ChildPlan& plan) {
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  if (spec.listen_fd) {
    if (*spec.listen_fd != 3) {
      ::dup2(*spec.listen_fd, 3);
    } else {
      ::fcntl(3, F_SETFD, 0);
    }
    write_decimal(plan.listen_pid_digits, static_cast<long>(::getpid()));
  }
  if (!plan.output_path.empty()) {
    const int fd = ::open(plan.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
  }
  ::execvpe(plan.argv[0], plan.argv.data(), plan.environment.data());
  static constexpr char kMessage[] = "cannot run the program: exec failed\n";
  [[maybe_unused]] const ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  ::_exit(127);
}

}  // namespace

Result<Process> Process::spawn(const ProcessSpec& spec) {
  if (spec.argv.empty()) return make_error(ErrorCategory::usage, "no program to run");
  ChildPlan plan = plan_child(spec);
  const pid_t pid = ::fork();
  if (pid < 0) return make_error(ErrorCategory::io, fmt::format("cannot start {}", spec.argv[0]), errno);
  if (pid == 0) exec_child(spec, plan);
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
