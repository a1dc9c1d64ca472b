#pragma once

#include "sdbox/common/result.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sdbox {

/// How to start a child process.
struct ProcessSpec {
  std::vector<std::string> argv;                  ///< argv[0] is the program (searched in PATH)
  std::map<std::string, std::string> environment;  ///< added to (or replacing in) the parent's
  std::optional<std::filesystem::path> output;     ///< stdout+stderr to this file (appended)
  /// Descriptor to hand over as fd 3 (socket activation); the child gets LISTEN_FDS=1 and
  /// LISTEN_PID=<its own pid>, which must be set after fork, hence done here.
  std::optional<int> listen_fd;
};

/// A child process that is stopped (SIGTERM, then SIGKILL) when the object goes away, so a
/// test or tool stops only what it started.
class Process {
 public:
  static Result<Process> spawn(const ProcessSpec& spec);

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool running();
  /// Waits for the exit; the status as a shell reports it (128+signal when killed).
  int wait();
  /// Waits up to `patience`; nullopt when still running.
  std::optional<int> wait_for(std::chrono::milliseconds patience);
  /// SIGTERM, up to `patience` to exit, then SIGKILL. Returns the exit status.
  int stop(std::chrono::milliseconds patience = std::chrono::milliseconds(3000));
  void signal(int signal_number) const;

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  std::optional<int> reap(bool block);
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace sdbox
