#include "desktop/process_rdp_client.hpp"

#include "sdbox/common/log.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace sdbox::firmware {

namespace {
auto rdp_client_log() { return log::component("rdp"); }
}  // namespace

void ProcessRdpClient::start(const RdpTarget& target, Events events) {
  stop();
  stopping_ = false;
  int to_child[2] = {-1, -1};
  int from_child[2] = {-1, -1};
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
    rdp_client_log()->error("cannot start the desktop client: pipe failed");
    boost::asio::post(config_.executor, [ended = events.ended] { ended("cannot start the desktop client"); });
    return;
  }
  const std::string program = config_.program.string();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group: stopping the view stops whatever it started too
    ::dup2(to_child[0], STDIN_FILENO);
    ::dup2(from_child[1], STDOUT_FILENO);
    ::close_range(3, ~0U, 0);  // nothing of the agent's: not the card, not the tunnel
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const char* argv[] = {program.c_str(), nullptr};
    ::execv(program.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  if (pid < 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    boost::asio::post(config_.executor, [ended = events.ended] { ended("cannot start the desktop client"); });
    return;
  }
  pid_ = pid;
  input_ = to_child[1];
  running_ = true;
  const nlohmann::json settings{{"socket", target.socket.string()},
                                {"user", target.user},
                                {"password", target.password},
                                {"certificate_sha256", target.certificate_sha256},
                                {"width", config_.width},
                                {"height", config_.height},
                                {"on_screen", config_.on_screen}};
  command(settings.dump());
  reader_ = std::thread([this, output = from_child[0], events = std::move(events)] { read_events(output, events); });
}

void ProcessRdpClient::command(const std::string& line) {
  std::lock_guard lock(input_mutex_);
  if (input_ < 0) return;
  const std::string text = line + "\n";
  std::size_t written = 0;
  while (written < text.size()) {
    auto n = ::write(input_, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client has gone; its reader reports why
    written += static_cast<std::size_t>(n);
  }
}

void ProcessRdpClient::send_key(std::uint16_t flags, std::uint16_t scancode) {
  command("key " + std::to_string(flags) + " " + std::to_string(scancode));
}

void ProcessRdpClient::save_screenshot(const std::filesystem::path& path) { command("screenshot " + path.string()); }

void ProcessRdpClient::read_events(int output, Events events) {
  std::string pending;
  std::string ended_reason;
  char buffer[4096];
  while (true) {
    auto n = ::read(output, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    for (auto at = pending.find('\n'); at != std::string::npos; at = pending.find('\n')) {
      auto event = nlohmann::json::parse(pending.substr(0, at), nullptr, false);
      pending.erase(0, at + 1);
      if (!event.is_object() || !event.contains("event") || !event["event"].is_string()) continue;
      const std::string name = event["event"].get<std::string>();
      // Only the fields we read, each checked: a malformed event must not end this thread.
      auto text = [&](const char* key) { return event.contains(key) && event[key].is_string() ? event[key].get<std::string>() : std::string(); };
      auto number = [&](const char* key) { return event.contains(key) && event[key].is_number_unsigned() ? event[key].get<std::uint64_t>() : 0; };
      if (name == "first_frame") {
        rdp_client_log()->info("first frame {}", log::Fields().add("width", number("width")).add("height", number("height")));
        if (!stopping_ && events.first_frame) boost::asio::post(config_.executor, events.first_frame);
      } else if (name == "ended") {
        ended_reason = text("reason");
      } else if (name == "screenshot") {
        rdp_client_log()->info("screenshot saved {}", log::Fields().add("path", text("path")));
      }
    }
  }
  ::close(output);
  if (!stopping_) {
    if (ended_reason.empty()) ended_reason = "the desktop client exited";
    rdp_client_log()->info("desktop client ended {}", log::Fields().add("reason", ended_reason));
    if (events.ended) boost::asio::post(config_.executor, [ended = events.ended, ended_reason] { ended(ended_reason); });
  }
}

void ProcessRdpClient::stop() {
  stopping_ = true;
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);  // in case it had not made its group yet
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  {
    std::lock_guard lock(input_mutex_);
    if (input_ >= 0) ::close(input_);
    input_ = -1;
  }
  if (reader_.joinable()) reader_.join();
  running_ = false;
}

}  // namespace sdbox::firmware
