#include "test_desktop_process.hpp"

#include "sdbox/common/crypto.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sdbox::testing {

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TestDesktop::TestDesktop(const std::vector<std::string>& users) {
  {
    std::ofstream out(directory_ / "users");
    for (const auto& line : users) out << line << "\n";
  }
  auto key = crypto::generate_ec_p256();
  if (!key) throw std::runtime_error(key.error().describe());
  crypto::CertificateRequest request;
  request.common_name = "test-desktop";
  request.server_auth = true;
  request.alt_names = {"IP:127.0.0.1"};
  auto certificate = crypto::issue_certificate(request, **key, **key, nullptr);
  if (!certificate) throw std::runtime_error(certificate.error().describe());
  certificate_sha256_ = *crypto::certificate_fingerprint(**certificate);
  if (!crypto::write_certificate_pem(**certificate, directory_ / "desktop.crt") ||
      !crypto::write_private_key_pem(**key, directory_ / "desktop.key")) {
    throw std::runtime_error("cannot write the test desktop's identity");
  }

  ProcessSpec spec;
  spec.argv = {SDBOX_TEST_DESKTOP_PROGRAM, "--port", "0", "--users", (directory_ / "users").string(),
               "--cert", (directory_ / "desktop.crt").string(), "--key", (directory_ / "desktop.key").string(),
               "--report", (directory_ / "report.json").string(), "--control", (directory_ / "control").string()};
  // FreeRDP 2's own per-connection key leak (see the file) must not fail an ASan run; ours would.
  spec.environment["LSAN_OPTIONS"] = std::string("suppressions=") + SDBOX_LSAN_FREERDP_SUPPRESSIONS;
  spec.environment["ASAN_OPTIONS"] = "fast_unwind_on_malloc=0";
  spec.output = directory_ / "desktop.log";
  auto started = Process::spawn(spec);
  if (!started) throw std::runtime_error(started.error().describe());
  process_.emplace(std::move(*started));
  for (int i = 0; i < 200 && port_ == 0; ++i) {
    auto text = slurp(directory_ / "desktop.log");
    if (auto at = text.find("listening port="); at != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::stoi(text.substr(at + 15)));
      break;
    }
    if (!process_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (port_ == 0) throw std::runtime_error("the test desktop did not start: " + log());
}

TestDesktop::~TestDesktop() { stop(); }

bool TestDesktop::stop() {
  if (!process_) return true;
  int status = process_->stop();
  process_.reset();
  return status == 0;
}

nlohmann::json TestDesktop::report() const {
  auto parsed = nlohmann::json::parse(slurp(directory_ / "report.json"), nullptr, false);
  return parsed.is_discarded() ? nlohmann::json::object() : parsed;
}

nlohmann::json TestDesktop::session_of(const std::string& user) const {
  nlohmann::json newest;
  for (const auto& session : report().value("sessions", nlohmann::json::array())) {
    if (session.value("user", "") == user) newest = session;
  }
  return newest;
}

std::string TestDesktop::control(const std::string& command) const {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, (directory_ / "control").c_str(), sizeof address.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "cannot connect to the control socket";
  }
  std::string line = command + "\n";
  [[maybe_unused]] auto sent = ::write(fd, line.data(), line.size());
  std::string reply;
  char byte = 0;
  while (::read(fd, &byte, 1) == 1 && byte != '\n') reply += byte;
  ::close(fd);
  return reply;
}

std::string TestDesktop::log() const { return slurp(directory_ / "desktop.log"); }

}  // namespace sdbox::testing
