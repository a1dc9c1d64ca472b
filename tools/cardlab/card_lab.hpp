#pragma once

#include "sdbox/common/process.hpp"
#include "sdbox/common/result.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

/// A private smartcard stack for tests, benchmarks, the demo and tools/with-card: one pcscd of
/// our own (socket-activated on a socket in a private directory, so it never touches a system
/// pcscd) with the vsmartcard vpcd reader driver, and the softcard as the card in that reader.
namespace sdbox::cardlab {

// yubico-piv-tool only talks to readers whose name contains "Yubikey" unless given -r; the
// softcard implements the YubiKey PIV extensions, so the reader says so and the tool works as is.
inline constexpr const char* kReaderName = "SD-Box softcard (Yubikey-compatible PIV)";

struct PcscdOptions {
  std::filesystem::path directory;  ///< private directory: socket, reader.conf.d, log
  std::filesystem::path pcscd = "/usr/sbin/pcscd";
  std::filesystem::path vpcd_driver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
  std::uint16_t vpcd_port = 0;  ///< 0: pick a free pair of ports
  std::chrono::milliseconds startup_timeout{10000};
};

class PrivatePcscd {
 public:
  /// Starts pcscd and waits until the vpcd driver listens for the card.
  static Result<std::unique_ptr<PrivatePcscd>> start(const PcscdOptions& options);

  /// The value for PCSCLITE_CSOCK_NAME that points PC/SC clients at this daemon.
  [[nodiscard]] const std::filesystem::path& socket_path() const { return socket_path_; }
  [[nodiscard]] std::uint16_t vpcd_port() const { return vpcd_port_; }
  [[nodiscard]] std::filesystem::path log_path() const { return directory_ / "pcscd.log"; }
  [[nodiscard]] pid_t pid() const { return process_.pid(); }

  /// Stops the daemon (SIGTERM, then SIGKILL).
  void stop() { process_.stop(); }

 private:
  PrivatePcscd(Process process, std::filesystem::path directory, std::filesystem::path socket, std::uint16_t port)
      : process_(std::move(process)), directory_(std::move(directory)), socket_path_(std::move(socket)),
        vpcd_port_(port) {}
  Process process_;
  std::filesystem::path directory_;
  std::filesystem::path socket_path_;
  std::uint16_t vpcd_port_;
};

struct SoftcardOptions {
  std::filesystem::path program;  ///< sdbox-softcard
  std::filesystem::path state;
  std::uint16_t vpcd_port = 0;
  std::optional<std::filesystem::path> log;
  std::string log_level = "info";
};

/// Inserts the card: starts the emulator, which connects to vpcd. Destroying (or stopping) the
/// process is pulling the card out.
Result<Process> insert_softcard(const SoftcardOptions& options);

/// True when a TCP socket listens on 127.0.0.1:port (read from /proc/net/tcp, so checking does
/// not itself connect: a connection to vpcd is a card insertion).
bool is_listening(std::uint16_t port);

/// The directory of the running executable; tools find their siblings from there.
std::filesystem::path executable_directory();

}  // namespace sdbox::cardlab
