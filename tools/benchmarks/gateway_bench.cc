// sdbox-bench-gateway: what sdbox-gateway costs, against a baseline measured in the same run.
//
// One sdbox-test-desktop process serves every session of the run (one user per session).
//
//  1. Added latency. Input sent -> changed pixels seen by a box client (rdp::Viewer, 1280x800):
//     a key press with a new scancode, then the client is pumped until the test desktop's key bit
//     line (tools/test-desktop/desktop_canvas.hpp) shows that scancode. Measured straight to the
//     test desktop, through one sdbox-gateway process reached directly, and along the box's whole
//     path (broker_path.hpp: the box's socket, its tunnel, the broker's relay, a gateway the broker
//     started after a real login), samples alternating between the paths. The test desktop
//     sends at most one frame per 40 ms and draws its 250 ms clock tick at its next wake-up; either would add up to 40 ms of pacing to a sample in both paths alike.
//     So an input goes only when the client has seen no frame for 45 ms, no earlier input for
//     50 ms, and its clock band changed 50..150 ms ago (well clear of the next tick's frame).
//  2. CPU per session. N concurrent sessions, each = one test desktop session + one sdbox-gateway
//     process + one box client in this process (a thread each). The standard workload is a
//     1280x800 desktop with a region redrawn 10 times a second, driven like this: every box
//     client moves the mouse every 100 ms; each move changes the mouse bit line, so the desktop
//     redraws its 128 live rows (1280x128 px, 655,360 bytes uncompressed; at most one frame per
//     40 ms). The desktop's clock band also changes every 250 ms and redraws the same rows, so
//     about 14 frames a second go out (fewer when a tick and a move share a frame). Frames and
//     inputs per session-second come from the test desktop's own counters and are printed, so a
//     saturated machine shows. After a warm-up, the gateways' CPU time (utime + stime,
//     /proc/PID/stat) over the measuring window gives CPU ms per session-second and sessions per
//     core = 1000 / that; the gateway works only per frame, so the same figures are also given
//     per frame and scaled to exactly 10 redraws a second. The test desktop's CPU (the desktop,
//     not our cost) and this process's (the box clients) are reported apart.
//  3. Bytes per second to the box, per session: TCP payload bytes the box clients received over
//     the window (TLS records carrying uncompressed surface bits), and the gateways' own
//     bytes_to_box (pixel bytes, from their "ended" event after SIGTERM) over each session's
//     whole life, which includes the first full 1280x800 frame.
#include "broker_path.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/crypto.hpp"
#include "sdbox/common/process.hpp"
#include "sdbox/rdp/viewer.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <winpr/wlog.h>

#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace sdbox;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using Json = nlohmann::json;

/// Thrown on any failure: unwinding stops every child process (their destructors) before exit.
struct BenchFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
T must(Result<T> result, const std::string& what) {
  if (!result) throw BenchFailure(what + ": " + result.error().describe());
  return std::move(*result);
}

void must(const Status& status, const std::string& what) {
  if (!status) throw BenchFailure(what + ": " + status.error().describe());
}

constexpr std::uint32_t desktop_width = 1280;
constexpr std::uint32_t desktop_height = 800;
/// tools/test-desktop/desktop_canvas.hpp: the key bit line (flags << 16 | scancode) is rows
/// 96..111, 32 cells of 16 px, most significant bit first, white = 1.
constexpr std::uint32_t key_line_middle_row = 64 + 2 * 16 + 8;
constexpr std::uint32_t bit_cell_width = 16;
/// Pointer "move" flag of a slow-path/fast-path mouse event (MS-RDPBCGR 2.2.8.1.1.3.1.1.3).
constexpr std::uint16_t pointer_move = 0x0800;
/// The standard workload's input period: one mouse move per session every 100 ms.
constexpr auto mouse_period = 100ms;
/// Sessions run this long before the window opens, so their first full frames are behind them.
constexpr auto warm_up = 2s;
/// Quiet needed before a latency sample: longer than the desktop's 40 ms frame interval.
constexpr auto quiet_after_paint = 45ms;
constexpr auto quiet_after_input = 50ms;
/// When in the desktop's 250 ms clock cycle an input may go: after the tick's frame and before
/// the next one, which comes 250 ms after the tick plus up to 80 ms of wake-up and pacing delay.
constexpr auto earliest_after_tick = 50ms;
constexpr auto latest_after_tick = 150ms;
/// A pixel of the clock band (rows 0..63), whose colour changes on every tick.
constexpr std::uint32_t clock_band_x = 8;
constexpr std::uint32_t clock_band_y = 8;
/// The standard workload's redraw rate, for the figures scaled to it.
constexpr double standard_redraws_per_second = 10;

double milliseconds(SteadyClock::duration duration) { return std::chrono::duration<double, std::milli>(duration).count(); }

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw BenchFailure("cannot write " + path.string());
}

/// A private (0700) directory for the run's files, removed however the run ends.
class WorkDirectory {
 public:
  WorkDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sdbox-bench-gateway.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw BenchFailure("mkdtemp failed: " + std::string(std::strerror(errno)));
    path_ = pattern;
  }
  ~WorkDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  WorkDirectory(const WorkDirectory&) = delete;
  WorkDirectory& operator=(const WorkDirectory&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// CPU time (user + system, all threads) a process has used so far, in ms, from /proc/PID/stat.
double cpu_ms(pid_t pid) {
  const std::string text = read_text(fmt::format("/proc/{}/stat", pid));
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const auto name_end = text.rfind(')');
  if (name_end == std::string::npos) throw BenchFailure(fmt::format("cannot read /proc/{}/stat", pid));
  std::istringstream fields(text.substr(name_end + 1));
  std::string skipped;
  for (int field = 3; field < 14; ++field) fields >> skipped;
  unsigned long long user_ticks = 0, system_ticks = 0;
  fields >> user_ticks >> system_ticks;
  if (!fields) throw BenchFailure(fmt::format("cannot parse /proc/{}/stat", pid));
  static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return static_cast<double>(user_ticks + system_ticks) * 1000.0 / ticks_per_second;
}

/// This process's descriptor of its TCP connection to 127.0.0.1:`port` (the Viewer keeps its
/// socket to itself; the kernel's counters on it are what the box received on the wire).
int socket_connected_to(std::uint16_t port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) == 0 && peer.sin_family == AF_INET &&
        peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(peer.sin_port) == port) {
      return fd;
    }
  }
  throw BenchFailure(fmt::format("no socket of this process is connected to 127.0.0.1:{}", port));
}

/// Payload bytes received so far on a TCP socket (the kernel's count, retransmissions excluded).
std::uint64_t tcp_bytes_received(int fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0 ||
      length < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
    throw BenchFailure("this kernel reports no tcpi_bytes_received");
  }
  return info.tcpi_bytes_received;
}

/// CPU time the whole machine has been busy so far (all CPUs, every process), from /proc/stat.
double machine_busy_ms() {
  std::istringstream line(read_text("/proc/stat"));
  std::string label;
  line >> label;
  if (label != "cpu") throw BenchFailure("cannot read /proc/stat");
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  unsigned long long ticks[8] = {};
  for (auto& field : ticks) line >> field;
  if (!line) throw BenchFailure("cannot parse /proc/stat");
  const unsigned long long busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7];
  static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return static_cast<double>(busy) * 1000.0 / ticks_per_second;
}

/// Nearest-rank percentile (p in 0..1).
double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

std::string random_secret() { return to_hex(crypto::random_bytes(16)); }

/// A self-signed server identity, as the broker gives each gateway and as a desktop has.
struct ServerIdentity {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string certificate_sha256;
};

ServerIdentity make_identity(const std::string& common_name) {
  auto key = must(crypto::generate_ec_p256(), "generating a key");
  crypto::CertificateRequest request;
  request.common_name = common_name;
  request.server_auth = true;
  request.alt_names = {"IP:127.0.0.1"};
  auto certificate = must(crypto::issue_certificate(request, *key, *key, nullptr), "issuing a certificate");
  return {crypto::certificate_to_pem(*certificate), crypto::private_key_to_pem(*key),
          must(crypto::certificate_fingerprint(*certificate), "certificate fingerprint")};
}

struct DesktopAccount {
  std::string user;
  std::string password;
};

/// The sdbox-test-desktop process every session of the run talks to.
class TestDesktop {
 public:
  TestDesktop(const std::string& program, const std::filesystem::path& directory, const std::vector<DesktopAccount>& accounts)
      : directory_(directory) {
    std::filesystem::create_directories(directory_);
    std::string users;
    for (const auto& account : accounts) users += account.user + ":" + account.password + "\n";
    write_text(directory_ / "users", users);
    const auto identity = make_identity("test-desktop");
    certificate_sha256_ = identity.certificate_sha256;
    write_text(directory_ / "desktop.crt", identity.certificate_pem);
    write_text(directory_ / "desktop.key", identity.private_key_pem);
    process_.emplace(must(Process::spawn({{program, "--port", "0", "--users", (directory_ / "users").string(), "--cert",
                                           (directory_ / "desktop.crt").string(), "--key",
                                           (directory_ / "desktop.key").string(), "--control",
                                           (directory_ / "control").string(), "--log-level", "warn"},
                                          {},
                                          directory_ / "desktop.log",
                                          std::nullopt}),
                          "starting sdbox-test-desktop"));
    const auto deadline = SteadyClock::now() + 10s;
    while (port_ == 0) {
      const std::string log = read_text(directory_ / "desktop.log");
      if (const auto at = log.find("listening port="); at != std::string::npos) {
        port_ = static_cast<std::uint16_t>(std::stoul(log.substr(at + 15)));
        break;
      }
      if (!process_->running()) throw BenchFailure("the test desktop exited at start:\n" + log);
      if (SteadyClock::now() > deadline) throw BenchFailure("the test desktop printed no port within 10 s:\n" + log);
      std::this_thread::sleep_for(10ms);
    }
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return process_->pid(); }
  [[nodiscard]] const std::string& certificate_sha256() const { return certificate_sha256_; }

  /// A box client straight to the desktop (the baseline).
  [[nodiscard]] rdp::ViewerConfig viewer_config(const DesktopAccount& account) const {
    rdp::ViewerConfig config;
    config.host = "127.0.0.1";
    config.port = port_;
    config.user = account.user;
    config.password = account.password;
    config.width = desktop_width;
    config.height = desktop_height;
    config.pinned_certificate_sha256 = certificate_sha256_;
    return config;
  }

  /// The desktop's live report (control socket "report"): per-session frame and input counters.
  [[nodiscard]] Json report() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw BenchFailure("socket failed");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, (directory_ / "control").c_str(), sizeof address.sun_path - 1);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      const std::string command = "report\n";
      if (::write(fd, command.data(), command.size()) == static_cast<ssize_t>(command.size())) {
        char buffer[4096];
        ssize_t got = 0;
        while ((got = ::read(fd, buffer, sizeof buffer)) > 0) reply.append(buffer, static_cast<std::size_t>(got));
      }
    }
    ::close(fd);
    auto parsed = Json::parse(reply, nullptr, false);
    if (parsed.is_discarded() || !parsed.contains("sessions")) throw BenchFailure("the test desktop's report is unreadable: " + reply);
    return parsed;
  }

 private:
  std::filesystem::path directory_;
  std::optional<Process> process_;
  std::uint16_t port_ = 0;
  std::string certificate_sha256_;
};

/// Frames sent to and inputs received from the sessions of `users`, summed, as the desktop counts them.
struct DesktopCounters {
  std::uint64_t frames = 0;
  std::uint64_t inputs = 0;
};

DesktopCounters desktop_counters(const Json& report, const std::vector<std::string>& users) {
  DesktopCounters counters;
  for (const auto& session : report.at("sessions")) {
    if (std::find(users.begin(), users.end(), session.value("user", "")) == users.end()) continue;
    counters.frames += session.value("frames_sent", std::uint64_t{0});
    counters.inputs += session.value("inputs_received", std::uint64_t{0});
  }
  return counters;
}

/// One sdbox-gateway process as the broker starts it: settings on stdin, events on stdout, one
/// box accepted on 127.0.0.1 (--listen-port 0).
class Gateway {
 public:
  Gateway(const std::string& program, const std::filesystem::path& directory, const TestDesktop& desktop,
          const DesktopAccount& account, const std::string& session)
      : directory_(directory), box_password_(random_secret()) {
    std::filesystem::create_directories(directory_);
    const auto identity = make_identity("gateway");
    certificate_sha256_ = identity.certificate_sha256;
    const Json settings{
        {"desktop",
         {{"host", "127.0.0.1"},
          {"port", desktop.port()},
          {"user", account.user},
          {"password", account.password},
          {"certificate_sha256", desktop.certificate_sha256()}}},
        {"tls", {{"certificate_pem", identity.certificate_pem}, {"private_key_pem", identity.private_key_pem}}},
        {"box", {{"user", "box"}, {"password", box_password_}}},
        {"context", {{"session", session}, {"user", account.user}, {"box", "bench-box"}, {"project", "bench"}}}};
    write_text(directory_ / "settings.json", settings.dump());
    // Settings on stdin (never argv), as from the broker; a shell redirect does it simply.
    process_.emplace(must(Process::spawn({{"/bin/sh", "-c", "exec \"$0\" --listen-port 0 --log-level warn < \"$1\" > \"$2\"",
                                           program, (directory_ / "settings.json").string(), (directory_ / "events").string()},
                                          {},
                                          directory_ / "gateway.log",
                                          std::nullopt}),
                          "starting sdbox-gateway"));
    const auto deadline = SteadyClock::now() + 10s;
    while (true) {
      if (auto listening = event("listening")) {
        port_ = listening->at("port").get<std::uint16_t>();
        break;
      }
      if (!process_->running()) throw BenchFailure("the gateway exited at start:\n" + log());
      if (SteadyClock::now() > deadline) throw BenchFailure("the gateway reported no listening port within 10 s:\n" + log());
      std::this_thread::sleep_for(5ms);
    }
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return process_->pid(); }

  /// The box's client: the one-time credentials and the gateway's pinned certificate.
  [[nodiscard]] rdp::ViewerConfig box_config() const {
    rdp::ViewerConfig config;
    config.host = "127.0.0.1";
    config.port = port_;
    config.user = "box";
    config.password = box_password_;
    config.width = desktop_width;
    config.height = desktop_height;
    config.pinned_certificate_sha256 = certificate_sha256_;
    return config;
  }

  /// Asks it to stop, as the broker does (SIGTERM), without waiting.
  void request_stop() const { process_->signal(SIGTERM); }

  /// Stops it and returns its "ended" event.
  Json stop() {
    process_->stop();
    auto ended = event("ended");
    if (!ended) throw BenchFailure("the gateway reported no end:\n" + read_text(directory_ / "gateway.log"));
    return *ended;
  }

  [[nodiscard]] std::string log() const { return read_text(directory_ / "gateway.log"); }

 private:
  [[nodiscard]] std::optional<Json> event(const std::string& name) const {
    std::ifstream in(directory_ / "events");
    std::string line;
    while (std::getline(in, line)) {
      auto parsed = Json::parse(line, nullptr, false);
      if (!parsed.is_discarded() && parsed.value("event", "") == name) return parsed;
    }
    return std::nullopt;
  }

  std::filesystem::path directory_;
  std::string box_password_;
  std::string certificate_sha256_;
  std::optional<Process> process_;
  std::uint16_t port_ = 0;
};

std::unique_ptr<rdp::Viewer> connect_box(const rdp::ViewerConfig& config, const std::string& what, const Gateway* gateway) {
  auto viewer = rdp::Viewer::connect(config);
  if (!viewer) {
    throw BenchFailure("connecting " + what + ": " + viewer.error().describe() + (gateway != nullptr ? "\n" + gateway->log() : ""));
  }
  return std::move(*viewer);
}

// ---------------------------------------------------------------------------------------------
// 1. Latency

bool key_line_shows(const rdp::FrameView& frame, std::uint16_t scancode) {
  for (std::uint32_t bit = 0; bit < 16; ++bit) {
    const std::uint32_t cell = 31 - bit;
    const bool white = frame.rgb(cell * bit_cell_width + bit_cell_width / 2, key_line_middle_row) == 0xFFFFFF;
    if (white != (((scancode >> bit) & 1u) != 0)) return false;
  }
  return true;
}

/// One box client whose input-to-pixels time is sampled.
class LatencyProbe {
 public:
  LatencyProbe(rdp::Viewer& viewer, std::string name) : viewer_(viewer), name_(std::move(name)) {}

  /// Waits up to 2 ms for something to arrive and notes when the last frame and tick came.
  void keep_up() {
    must(viewer_.pump(2ms), name_ + " connection");
    if (viewer_.paints() != paints_) note_paint(SteadyClock::now());
  }

  /// True when an input now would find the desktop free to draw at once (see the file's header).
  [[nodiscard]] bool quiet(SteadyClock::time_point now) const {
    const auto since_tick = now - last_tick_;
    return now - last_paint_ >= quiet_after_paint && now - last_input_ >= quiet_after_input &&
           since_tick >= earliest_after_tick && since_tick <= latest_after_tick;
  }

  /// Presses a key with a scancode the line does not show yet; samples the ms until the box sees it drawn.
  void time_one_input() {
    // 0x02..0x7F: never 0 (a new session's value) and never the previous one.
    scancode_ = static_cast<std::uint16_t>(scancode_ >= 0x7F ? 0x02 : scancode_ + 1);
    const auto sent = SteadyClock::now();
    must(viewer_.send_keyboard(0, scancode_), name_ + ": sending a key");
    last_input_ = sent;
    while (!key_line_shows(viewer_.frame(), scancode_)) {
      if (SteadyClock::now() - sent > 3s) throw BenchFailure(name_ + ": a key press never showed on the screen");
      must(viewer_.pump(5ms), name_ + " connection");
    }
    const auto seen = SteadyClock::now();
    note_paint(seen);
    samples_.push_back(milliseconds(seen - sent));
  }

  [[nodiscard]] const std::vector<double>& samples() const { return samples_; }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  void note_paint(SteadyClock::time_point now) {
    paints_ = viewer_.paints();
    last_paint_ = now;
    // The first colour seen tells nothing about when the tick came; only a change does.
    const auto band = viewer_.frame().rgb(clock_band_x, clock_band_y);
    if (band_colour_ && band != *band_colour_) last_tick_ = now;
    band_colour_ = band;
  }

  rdp::Viewer& viewer_;
  std::string name_;
  std::uint64_t paints_ = 0;
  SteadyClock::time_point last_paint_ = SteadyClock::now();
  SteadyClock::time_point last_input_{};
  /// Until a tick is seen, no time in the clock cycle is known to be safe.
  SteadyClock::time_point last_tick_{};
  std::optional<std::uint32_t> band_colour_;
  std::uint16_t scancode_ = 0x01;
  std::vector<double> samples_;
};

/// Alternates samples between the paths; while one waits for quiet all are kept current, so
/// none has a backlog of frames when its turn comes.
void sample_latency(const std::vector<LatencyProbe*>& probes, int samples) {
  for (int i = 0; i < samples; ++i) {
    for (LatencyProbe* probe : probes) {
      const auto deadline = SteadyClock::now() + 5s;
      while (!probe->quiet(SteadyClock::now())) {
        if (SteadyClock::now() > deadline) throw BenchFailure(probe->name() + ": the screen never went quiet between two ticks");
        for (LatencyProbe* other : probes) other->keep_up();
      }
      probe->time_one_input();
    }
  }
}

struct LatencyFigures {
  double direct_p50 = 0, direct_p99 = 0, gateway_p50 = 0, gateway_p99 = 0;
  /// The box's whole path: its socket, the tunnel, the broker's relay, the gateway.
  double broker_p50 = 0, broker_p99 = 0;
  std::size_t samples = 0;
  /// CPUs busy while sampling: other load on the machine shows as jitter in the samples.
  double cores_busy = 0;
  double machine_cores_busy = 0;
};

LatencyFigures measure_latency(const std::string& gateway_program, const std::filesystem::path& work, const TestDesktop& desktop,
                               const DesktopAccount& direct_account, const DesktopAccount& gateway_account,
                               const DesktopAccount& broker_account, int samples) {
  Gateway gateway(gateway_program, work / "latency-gateway", desktop, gateway_account, "bench-latency");
  bench::BrokerPath whole_path(gateway_program, work / "latency-broker",
                               {desktop.port(), desktop.certificate_sha256(), broker_account.user, broker_account.password});
  auto direct_viewer = connect_box(desktop.viewer_config(direct_account), "straight to the test desktop", nullptr);
  auto gateway_viewer = connect_box(gateway.box_config(), "through sdbox-gateway", &gateway);
  auto broker_viewer = connect_box(whole_path.box_config(), "through the broker and its gateway", nullptr);
  LatencyProbe direct(*direct_viewer, "direct");
  LatencyProbe through_gateway(*gateway_viewer, "through the gateway");
  LatencyProbe through_broker(*broker_viewer, "through the broker");
  auto busy_ms = [&] { return cpu_ms(desktop.pid()) + cpu_ms(gateway.pid()) + cpu_ms(::getpid()); };
  const auto began = SteadyClock::now();
  const double busy_before = busy_ms(), machine_before = machine_busy_ms();
  sample_latency({&direct, &through_gateway, &through_broker}, samples);
  const double elapsed_ms = milliseconds(SteadyClock::now() - began);
  const double busy = busy_ms() - busy_before, machine_busy = machine_busy_ms() - machine_before;
  broker_viewer->disconnect();
  gateway_viewer->disconnect();
  direct_viewer->disconnect();
  return {percentile(direct.samples(), 0.50),
          percentile(direct.samples(), 0.99),
          percentile(through_gateway.samples(), 0.50),
          percentile(through_gateway.samples(), 0.99),
          percentile(through_broker.samples(), 0.50),
          percentile(through_broker.samples(), 0.99),
          direct.samples().size(),
          busy / elapsed_ms,
          machine_busy / elapsed_ms};
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. The standard workload

/// One session of the workload: its gateway, its box client and the thread that drives the
/// client (a mouse move every 100 ms, frames taken as they come). Members are destroyed in
/// reverse order: the thread stops before the client goes, the client before the gateway.
struct LoadSession {
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<rdp::Viewer> box;
  int box_socket = -1;
  SteadyClock::time_point connecting_at;
  std::jthread driver;
};

/// The first failure of any driver thread; the main thread checks it.
class FailureSlot {
 public:
  void record(const std::string& failure) {
    std::lock_guard lock(mutex_);
    if (failure_.empty()) failure_ = failure;
  }
  void throw_if_any() const {
    std::lock_guard lock(mutex_);
    if (!failure_.empty()) throw BenchFailure(failure_);
  }

 private:
  mutable std::mutex mutex_;
  std::string failure_;
};

void drive_box(const std::stop_token& stop, rdp::Viewer& box, int session, FailureSlot& failures) {
  auto next_move = SteadyClock::now();
  std::uint32_t moves = 0;
  while (!stop.stop_requested()) {
    const auto now = SteadyClock::now();
    if (now >= next_move) {
      // Every move lands somewhere new, so the mouse bit line changes each time.
      const auto x = static_cast<std::uint16_t>(16 + (moves * 37u + static_cast<std::uint32_t>(session) * 101u) % 1200u);
      const auto y = static_cast<std::uint16_t>(16 + (moves * 23u) % 760u);
      ++moves;
      if (auto sent = box.send_mouse(pointer_move, x, y); !sent) {
        failures.record(fmt::format("session {}: {}", session, sent.error().describe()));
        return;
      }
      // A late client does not catch up in a burst: the desktop's counters show the real rate.
      next_move = std::max(next_move + mouse_period, now);
    }
    const auto until_move = std::chrono::ceil<std::chrono::milliseconds>(next_move - SteadyClock::now());
    if (auto pumped = box.pump(std::clamp<std::chrono::milliseconds>(until_move, 0ms, 20ms)); !pumped) {
      failures.record(fmt::format("session {}: {}", session, pumped.error().describe()));
      return;
    }
  }
}

struct LoadFigures {
  int sessions = 0;
  double window_seconds = 0;
  double gateway_cpu_ms_per_session_second = 0;
  double desktop_cpu_ms_per_session_second = 0;
  double box_cpu_ms_per_session_second = 0;
  double frames_per_session_second = 0;
  double gateway_cpu_ms_per_frame = 0;
  double inputs_per_session_second = 0;
  double wire_bytes_per_session_second = 0;
  double gateway_bytes_per_session_second = 0;
  double cores_busy = 0;
  double machine_cores_busy = 0;
};

LoadFigures measure_load(const std::string& gateway_program, const std::filesystem::path& work, const TestDesktop& desktop,
                         const std::vector<DesktopAccount>& accounts, int seconds) {
  FailureSlot failures;
  std::vector<std::string> users;
  users.reserve(accounts.size());
  for (const auto& account : accounts) users.push_back(account.user);
  std::vector<LoadSession> sessions(accounts.size());
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    auto& session = sessions[i];
    session.gateway = std::make_unique<Gateway>(gateway_program, work / fmt::format("load-gateway-{}", i + 1), desktop, accounts[i],
                                                fmt::format("bench-load-{}", i + 1));
    session.connecting_at = SteadyClock::now();
    session.box = connect_box(session.gateway->box_config(), fmt::format("box {} through sdbox-gateway", i + 1), session.gateway.get());
    session.box_socket = socket_connected_to(session.gateway->port());
    session.driver = std::jthread([&box = *session.box, &failures, i](const std::stop_token& stop) {
      drive_box(stop, box, static_cast<int>(i + 1), failures);
    });
  }
  std::this_thread::sleep_for(warm_up);
  failures.throw_if_any();

  struct Snapshot {
    SteadyClock::time_point at;
    std::vector<double> gateway_cpu;
    double desktop_cpu = 0;
    double own_cpu = 0;
    double machine_busy = 0;
    std::uint64_t wire_bytes = 0;
    DesktopCounters counters;
  };
  auto snapshot = [&] {
    Snapshot taken;
    taken.at = SteadyClock::now();
    for (const auto& session : sessions) {
      taken.gateway_cpu.push_back(cpu_ms(session.gateway->pid()));
      taken.wire_bytes += tcp_bytes_received(session.box_socket);
    }
    taken.desktop_cpu = cpu_ms(desktop.pid());
    taken.own_cpu = cpu_ms(::getpid());
    taken.machine_busy = machine_busy_ms();
    taken.counters = desktop_counters(desktop.report(), users);
    return taken;
  };
  const auto start = snapshot();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const auto end = snapshot();
  failures.throw_if_any();

  // Stop the clients first (they would see the gateways leave), then every gateway at once.
  for (auto& session : sessions) session.driver.request_stop();
  for (auto& session : sessions) session.driver.join();
  std::uint64_t gateway_bytes = 0;
  double gateway_lifetimes = 0;
  const auto stopping_at = SteadyClock::now();
  for (const auto& session : sessions) session.gateway->request_stop();
  for (auto& session : sessions) {
    const auto ended = session.gateway->stop();
    gateway_bytes += ended.at("bytes_to_box").get<std::uint64_t>();
    gateway_lifetimes += std::chrono::duration<double>(stopping_at - session.connecting_at).count();
  }

  LoadFigures figures;
  figures.sessions = static_cast<int>(sessions.size());
  figures.window_seconds = std::chrono::duration<double>(end.at - start.at).count();
  const double session_seconds = figures.window_seconds * static_cast<double>(sessions.size());
  double gateway_cpu = 0;
  for (std::size_t i = 0; i < sessions.size(); ++i) gateway_cpu += end.gateway_cpu[i] - start.gateway_cpu[i];
  figures.gateway_cpu_ms_per_session_second = gateway_cpu / session_seconds;
  figures.desktop_cpu_ms_per_session_second = (end.desktop_cpu - start.desktop_cpu) / session_seconds;
  figures.box_cpu_ms_per_session_second = (end.own_cpu - start.own_cpu) / session_seconds;
  figures.frames_per_session_second = static_cast<double>(end.counters.frames - start.counters.frames) / session_seconds;
  const auto frames = end.counters.frames - start.counters.frames;
  figures.gateway_cpu_ms_per_frame = frames > 0 ? gateway_cpu / static_cast<double>(frames) : 0;
  figures.inputs_per_session_second = static_cast<double>(end.counters.inputs - start.counters.inputs) / session_seconds;
  figures.wire_bytes_per_session_second = static_cast<double>(end.wire_bytes - start.wire_bytes) / session_seconds;
  figures.gateway_bytes_per_session_second = static_cast<double>(gateway_bytes) / gateway_lifetimes;
  figures.cores_busy = (gateway_cpu + (end.desktop_cpu - start.desktop_cpu) + (end.own_cpu - start.own_cpu)) /
                       (figures.window_seconds * 1000.0);
  figures.machine_cores_busy = (end.machine_busy - start.machine_busy) / (figures.window_seconds * 1000.0);
  return figures;
}

/// FreeRDP's own log (WLog) defaults to stdout, where the results go: send it to stderr, and
/// keep it to errors unless WLOG_LEVEL asks for more (the clients see the gateways stop).
void quiet_freerdp_log() {
  wLog* root = WLog_GetRoot();
  WLog_SetLogAppenderType(root, WLOG_APPENDER_CONSOLE);
  WLog_ConfigureAppender(WLog_GetLogAppender(root), "outputstream", const_cast<char*>("stderr"));
  if (std::getenv("WLOG_LEVEL") == nullptr) WLog_SetLogLevel(root, WLOG_ERROR);
}

int run(const std::string& gateway_program, const std::string& desktop_program, int samples, int session_count, int seconds,
        bool json) {
  WorkDirectory work;
  std::vector<DesktopAccount> load_accounts;
  for (int i = 1; i <= session_count; ++i) load_accounts.push_back({fmt::format("load-{}", i), random_secret()});
  const DesktopAccount direct_account{"latency-direct", random_secret()};
  const DesktopAccount gateway_account{"latency-gateway", random_secret()};
  const DesktopAccount broker_account{"latency-broker", random_secret()};
  std::vector<DesktopAccount> all_accounts = load_accounts;
  all_accounts.push_back(direct_account);
  all_accounts.push_back(gateway_account);
  all_accounts.push_back(broker_account);
  TestDesktop desktop(desktop_program, work.path() / "desktop", all_accounts);

  const auto latency = measure_latency(gateway_program, work.path(), desktop, direct_account, gateway_account, broker_account, samples);
  const auto load = measure_load(gateway_program, work.path(), desktop, load_accounts, seconds);

  const double added_p50 = latency.gateway_p50 - latency.direct_p50;
  const double added_p99 = latency.gateway_p99 - latency.direct_p99;
  const double added_broker_p50 = latency.broker_p50 - latency.direct_p50;
  const double added_broker_p99 = latency.broker_p99 - latency.direct_p99;
  const double sessions_per_core =
      load.gateway_cpu_ms_per_session_second > 0 ? 1000.0 / load.gateway_cpu_ms_per_session_second : 0;
  // All of the gateway's work is per frame (it sleeps otherwise): the same figures at exactly
  // the standard 10 redraws a second.
  const double standard_cpu_ms_per_session_second = load.gateway_cpu_ms_per_frame * standard_redraws_per_second;
  const double standard_sessions_per_core = standard_cpu_ms_per_session_second > 0 ? 1000.0 / standard_cpu_ms_per_session_second : 0;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  // Behind on input, or the machine out of CPU: the workload ran slower than specified.
  const double intended_inputs_per_second = 1000.0 / static_cast<double>(mouse_period.count());
  const bool saturated = load.inputs_per_session_second < 0.95 * intended_inputs_per_second ||
                         load.machine_cores_busy > 0.9 * static_cast<double>(cores);
  if (json) {
    std::cout << Json{{"latency_samples", latency.samples},
                      {"latency_direct_p50_ms", latency.direct_p50},
                      {"latency_direct_p99_ms", latency.direct_p99},
                      {"latency_gateway_p50_ms", latency.gateway_p50},
                      {"latency_gateway_p99_ms", latency.gateway_p99},
                      {"added_p50_ms", added_p50},
                      {"added_p99_ms", added_p99},
                      {"latency_broker_p50_ms", latency.broker_p50},
                      {"latency_broker_p99_ms", latency.broker_p99},
                      {"added_broker_p50_ms", added_broker_p50},
                      {"added_broker_p99_ms", added_broker_p99},
                      {"latency_machine_cores_busy", latency.machine_cores_busy},
                      {"sessions", load.sessions},
                      {"window_seconds", load.window_seconds},
                      {"desktop_frames_per_session_second", load.frames_per_session_second},
                      {"inputs_per_session_second", load.inputs_per_session_second},
                      {"gateway_cpu_ms_per_session_second", load.gateway_cpu_ms_per_session_second},
                      {"sessions_per_core", sessions_per_core},
                      {"gateway_cpu_ms_per_frame", load.gateway_cpu_ms_per_frame},
                      {"sessions_per_core_at_10_redraws_per_second", standard_sessions_per_core},
                      {"desktop_cpu_ms_per_session_second", load.desktop_cpu_ms_per_session_second},
                      {"box_clients_cpu_ms_per_session_second", load.box_cpu_ms_per_session_second},
                      {"bench_cores_busy", load.cores_busy},
                      {"machine_cores_busy", load.machine_cores_busy},
                      {"cores", cores},
                      {"saturated", saturated},
                      {"bytes_per_second_to_box", load.wire_bytes_per_session_second},
                      {"gateway_bytes_to_box_per_second", load.gateway_bytes_per_session_second}}
                     .dump()
              << "\n";
    return 0;
  }
  std::cout << fmt::format("input -> changed pixels at the box client (a key press until the key bit line shows it; "
                           "{} samples per path, alternating):\n",
                           latency.samples);
  std::cout << fmt::format("  straight to the test desktop   p50 {:6.2f} ms   p99 {:6.2f} ms\n", latency.direct_p50,
                           latency.direct_p99);
  std::cout << fmt::format("  through sdbox-gateway          p50 {:6.2f} ms   p99 {:6.2f} ms\n", latency.gateway_p50,
                           latency.gateway_p99);
  std::cout << fmt::format("  added by the gateway           p50 {:6.2f} ms   p99 {:6.2f} ms   (target: <= 5 ms added at p99)\n",
                           added_p50, added_p99);
  std::cout << fmt::format("  the box's whole path           p50 {:6.2f} ms   p99 {:6.2f} ms   (its socket, the tunnel, the broker's relay, the gateway)\n",
                           latency.broker_p50, latency.broker_p99);
  std::cout << fmt::format("  added by the whole path        p50 {:6.2f} ms   p99 {:6.2f} ms   (target: <= 5 ms added at p99)\n",
                           added_broker_p50, added_broker_p99);
  std::cout << fmt::format("  CPUs busy while sampling: {:.2f} of {} for the whole machine ({:.2f} for these processes)\n",
                           latency.machine_cores_busy, cores, latency.cores_busy);
  std::cout << "  caveat: the test desktop sends at most one frame per 40 ms and draws its 250 ms clock tick at its\n"
               "  next wake-up, which would add up to 40 ms to a sample in both paths; inputs are sent only 45 ms\n"
               "  after the last frame and 50..150 ms after a tick, so the figures above leave that pacing out.\n";
  std::cout << fmt::format("standard workload: {} sessions at once, each a {}x{} desktop session + one sdbox-gateway\n"
                           "  process + one box client; each client moves the mouse every {} ms, so the desktop redraws its\n"
                           "  top 128 rows ({}x128 px, uncompressed) on each move and on its 250 ms clock tick; {:.1f} s window\n",
                           load.sessions, desktop_width, desktop_height, mouse_period.count(), desktop_width, load.window_seconds);
  std::cout << fmt::format("  measured: {:.1f} frames/s and {:.1f} inputs/s per session (the test desktop's counters)\n",
                           load.frames_per_session_second, load.inputs_per_session_second);
  std::cout << fmt::format("  sdbox-gateway CPU  {:7.2f} ms per session-second -> {:5.1f} sessions per core (target >= 50)\n",
                           load.gateway_cpu_ms_per_session_second, sessions_per_core);
  std::cout << fmt::format("                     {:7.2f} ms per frame; at exactly {:.0f} redraws/s: {:.2f} ms per session-second"
                           " -> {:.1f} sessions per core\n",
                           load.gateway_cpu_ms_per_frame, standard_redraws_per_second, standard_cpu_ms_per_session_second,
                           standard_sessions_per_core);
  std::cout << fmt::format("  test desktop CPU   {:7.2f} ms per session-second (the desktop's cost, not ours)\n",
                           load.desktop_cpu_ms_per_session_second);
  std::cout << fmt::format("  box clients CPU    {:7.2f} ms per session-second (this process)\n", load.box_cpu_ms_per_session_second);
  std::cout << fmt::format("  CPUs busy: {:.2f} of {} with these processes, {:.2f} for the whole machine\n", load.cores_busy, cores,
                           load.machine_cores_busy);
  if (saturated) {
    std::cout << "  WARNING: the machine could not keep up with the workload (inputs behind, or CPUs nearly all\n"
                 "  busy): frames per session fell, so the per-frame figure is the better guide; try fewer --sessions.\n";
  }
  std::cout << fmt::format("bytes to the box per session: {:.2f} MB/s received on the wire in the window (TLS records of\n"
                           "  uncompressed surface bits); the gateways' own bytes_to_box count: {:.2f} MB/s of pixels over\n"
                           "  each session's life (connect to SIGTERM, so it includes the first full {}x{} frame)\n",
                           load.wire_bytes_per_session_second / 1e6, load.gateway_bytes_per_session_second / 1e6, desktop_width,
                           desktop_height);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdbox-bench-gateway: added input latency, CPU per session and bytes to the box of sdbox-gateway"};
  std::string gateway_program, desktop_program;
  bool json = false;
  int samples = 200;
  int sessions = 20;
  int seconds = 10;
  app.add_option("--gateway", gateway_program, "the sdbox-gateway program")->required()->check(CLI::ExistingFile);
  app.add_option("--desktop", desktop_program, "the sdbox-test-desktop program")->required()->check(CLI::ExistingFile);
  app.add_flag("--json", json, "one line of JSON");
  app.add_option("--samples", samples, "latency samples per path")->check(CLI::Range(20, 100000));
  app.add_option("--sessions", sessions, "concurrent sessions of the standard workload")->check(CLI::Range(1, 500));
  app.add_option("--seconds", seconds, "length of the CPU measuring window")->check(CLI::Range(1, 600));
  CLI11_PARSE(app, argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  quiet_freerdp_log();
  try {
    return run(gateway_program, desktop_program, samples, sessions, seconds, json);
  } catch (const std::exception& failure) {
    std::cerr << "bench-gateway: " << failure.what() << "\n";
    return 1;
  }
}
