#include "card_lab.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include <cerrno>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace sdbox::cardlab {

namespace {

bool port_is_free(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

// vpcd listens on PORT (slot 0) and PORT+1 (slot 1): both must be free.
std::uint16_t pick_vpcd_port() {
  std::random_device seed;
  std::mt19937 generator(seed());
  std::uniform_int_distribution<int> range(20000, 59998);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto port = static_cast<std::uint16_t>(range(generator));
    if (port_is_free(port) && port_is_free(static_cast<std::uint16_t>(port + 1)) && !is_listening(port)) return port;
  }
  return 0;
}

Result<int> bind_unix_socket(const std::filesystem::path& path) {
  sockaddr_un address{};
  if (path.string().size() >= sizeof address.sun_path) {
    return make_error(ErrorCategory::io, fmt::format("socket path {} is too long", path.string()));
  }
  std::filesystem::remove(path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(ErrorCategory::io, "cannot create a unix socket", errno);
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 64) != 0) {
    const int saved = errno;
    ::close(fd);
    return make_error(ErrorCategory::io, fmt::format("cannot listen on {}", path.string()), saved);
  }
  return fd;
}

bool scan_proc_tcp(const char* file, std::uint16_t port) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);  // header
  const std::string wanted = fmt::format(":{:04X}", port);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "0A" && local.size() >= wanted.size() &&
        local.compare(local.size() - wanted.size(), wanted.size(), wanted) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool is_listening(std::uint16_t port) { return scan_proc_tcp("/proc/net/tcp", port) || scan_proc_tcp("/proc/net/tcp6", port); }

std::filesystem::path executable_directory() {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::current_path() : self.parent_path();
}

Result<std::unique_ptr<PrivatePcscd>> PrivatePcscd::start(const PcscdOptions& options) {
  if (!std::filesystem::exists(options.pcscd)) {
    return make_error(ErrorCategory::io, fmt::format("{} not found: run tools/setup", options.pcscd.string()));
  }
  if (!std::filesystem::exists(options.vpcd_driver)) {
    return make_error(ErrorCategory::io, fmt::format("{} not found: run tools/setup", options.vpcd_driver.string()));
  }
  const std::uint16_t port = options.vpcd_port != 0 ? options.vpcd_port : pick_vpcd_port();
  if (port == 0) return make_error(ErrorCategory::io, "no free TCP port pair for vpcd");

  const auto config_directory = options.directory / "reader.conf.d";
  std::filesystem::create_directories(config_directory);
  {
    std::ofstream config(config_directory / "vpcd");
    config << fmt::format(
        "FRIENDLYNAME \"{}\"\nDEVICENAME /dev/null:0x{:04X}\nLIBPATH {}\nCHANNELID 0x{:04X}\n", kReaderName, port,
        options.vpcd_driver.string(), port);
    if (!config) return make_error(ErrorCategory::io, "cannot write the private reader.conf.d");
  }
  const auto socket_path = options.directory / "pcscd.comm";
  auto listener = bind_unix_socket(socket_path);
  if (!listener) return listener.error();

  // pcscd binds the system socket unless it is socket-activated: hand it ours as fd 3.
  ProcessSpec spec;
  spec.argv = {options.pcscd.string(), "--foreground", "--config", config_directory.string()};
  spec.output = options.directory / "pcscd.log";
  spec.listen_fd = *listener;
  auto process = Process::spawn(spec);
  ::close(*listener);
  if (!process) return process.error();

  const auto deadline = std::chrono::steady_clock::now() + options.startup_timeout;
  while (!is_listening(port)) {
    if (!process->running()) {
      return make_error(ErrorCategory::pcsc, fmt::format("pcscd exited at start-up; see {}",
                                                         (options.directory / "pcscd.log").string()));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorCategory::pcsc, fmt::format("vpcd did not listen on port {} in time", port));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::unique_ptr<PrivatePcscd>(new PrivatePcscd(std::move(*process), options.directory, socket_path, port));
}

Result<Process> insert_softcard(const SoftcardOptions& options) {
  ProcessSpec spec;
  spec.argv = {options.program.string(), "--state", options.state.string(), "--port",
               std::to_string(options.vpcd_port), "--log-level", options.log_level};
  spec.output = options.log;
  return Process::spawn(spec);
}

}  // namespace sdbox::cardlab
