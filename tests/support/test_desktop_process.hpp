#pragma once

#include "temp_dir.hpp"

#include "sdbox/common/process.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sdbox::testing {

/// A running sdbox-test-desktop on 127.0.0.1 with its own users, TLS identity, report file and
/// control socket, all in a private directory; stopped (and its exit checked) at scope exit.
class TestDesktop {
 public:
  /// `users`: "user:password" lines. Throws if it does not start (a broken test set-up).
  explicit TestDesktop(const std::vector<std::string>& users);
  ~TestDesktop();
  TestDesktop(const TestDesktop&) = delete;
  TestDesktop& operator=(const TestDesktop&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// Its control socket (ping, report, logoff USER, disconnect USER).
  [[nodiscard]] std::filesystem::path control_path() const { return directory_ / "control"; }
  /// SHA-256 (lowercase hex) of the desktop's TLS certificate.
  [[nodiscard]] const std::string& certificate_sha256() const { return certificate_sha256_; }
  /// The --report file as it is now.
  [[nodiscard]] nlohmann::json report() const;
  /// The newest session of `user` in the report, or null.
  [[nodiscard]] nlohmann::json session_of(const std::string& user) const;
  /// One command on the control socket ("logoff alice"...); the reply line.
  std::string control(const std::string& command) const;
  /// The process's stderr so far (for failure messages).
  [[nodiscard]] std::string log() const;
  /// Stops it; true when it exited 0 (so a sanitizer finding fails the test that calls this).
  bool stop();

 private:
  TempDir directory_;
  std::optional<Process> process_;
  std::uint16_t port_ = 0;
  std::string certificate_sha256_;
};

}  // namespace sdbox::testing
