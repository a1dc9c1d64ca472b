// sdbox-gateway as the broker runs it (its own process, settings on stdin, events on stdout),
// between the real test desktop and a box-side RDP client (rdp::Viewer) over loopback TLS.
#include "gateway/gateway_settings.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/process.hpp"
#include "sdbox/rdp/viewer.hpp"

#include "temp_dir.hpp"
#include "test_desktop_process.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

namespace sdbox::broker {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* box_password = "one-time-0123456789abcdef";
constexpr std::uint32_t test_desktop_background = 0x3C6E8C;  // tools/test-desktop/desktop_canvas.hpp
constexpr std::uint32_t key_line_y = 64 + 2 * 16 + 8;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds patience = 5s) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

/// One sdbox-gateway process listening for one box on 127.0.0.1.
class GatewayProcess {
 public:
  GatewayProcess(const testing::TestDesktop& desktop, std::uint16_t desktop_port, const std::string& desktop_password = "wonder land") {
    auto key = crypto::generate_ec_p256();
    crypto::CertificateRequest request;
    request.common_name = "gateway";
    request.server_auth = true;
    auto certificate = crypto::issue_certificate(request, **key, **key, nullptr);
    certificate_sha256_ = *crypto::certificate_fingerprint(**certificate);
    GatewaySettings settings;
    settings.desktop.host = "127.0.0.1";
    settings.desktop.port = desktop_port;
    settings.desktop.user = "alice";
    settings.desktop.password = desktop_password;
    settings.desktop.pinned_certificate_sha256 = desktop.certificate_sha256();
    settings.desktop.connect_timeout = 3s;
    settings.certificate_pem = crypto::certificate_to_pem(**certificate);
    settings.private_key_pem = crypto::private_key_to_pem(**key);
    settings.box_user = "box";
    settings.box_password = box_password;
    settings.context = {{"session", "s-1"}, {"user", "alice"}, {"box", "box-1"}, {"project", "census"}};
    {
      std::ofstream out(directory_ / "settings.json");
      out << serialise_gateway_settings(settings);
    }
    ProcessSpec spec;
    // The settings come on stdin, as from the broker: a shell redirect keeps this test simple.
    spec.argv = {"/bin/sh", "-c", std::string("exec \"$0\" --listen-port 0 < \"$1\" > \"$2\""), SDBOX_GATEWAY_PROGRAM,
                 (directory_ / "settings.json").string(), (directory_ / "events").string()};
    spec.environment["LSAN_OPTIONS"] = std::string("suppressions=") + SDBOX_LSAN_FREERDP_SUPPRESSIONS;
    spec.environment["ASAN_OPTIONS"] = "fast_unwind_on_malloc=0";
    spec.output = directory_ / "gateway.log";
    process_.emplace(std::move(*Process::spawn(spec)));
    if (!eventually([&] { return !events_named("listening").empty(); })) {
      throw std::runtime_error("the gateway did not start: " + log());
    }
    port_ = events_named("listening").front().at("port").get<std::uint16_t>();
  }

  [[nodiscard]] std::vector<Json> events() const {
    std::vector<Json> all;
    std::ifstream in(directory_ / "events");
    std::string line;
    while (std::getline(in, line)) {
      auto event = Json::parse(line, nullptr, false);
      if (!event.is_discarded()) all.push_back(event);
    }
    return all;
  }
  [[nodiscard]] std::vector<Json> events_named(const std::string& name) const {
    std::vector<Json> found;
    for (auto& event : events()) {
      if (event.value("event", "") == name) found.push_back(event);
    }
    return found;
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(directory_ / "gateway.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  [[nodiscard]] rdp::ViewerConfig box_config(const std::string& password = box_password) const {
    rdp::ViewerConfig config;
    config.host = "127.0.0.1";
    config.port = port_;
    config.user = "box";
    config.password = password;
    config.width = 1024;
    config.height = 768;
    config.pinned_certificate_sha256 = certificate_sha256_;
    config.connect_timeout = 5s;
    return config;
  }

  /// Waits for the exit; its status (0 when it ended cleanly and, under ASan, leak-free).
  int wait_exit() {
    auto status = process_->wait_for(10s);
    return status ? *status : -1;
  }
  void kill_hard() { process_->signal(SIGKILL); }

 private:
  testing::TempDir directory_;
  std::optional<Process> process_;
  std::string certificate_sha256_;
  std::uint16_t port_ = 0;
};

bool pump_until(rdp::Viewer& viewer, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    if (!viewer.pump(20ms)) return false;
  }
  return done();
}

bool report_shows(const testing::TestDesktop& desktop, const std::function<bool(const Json&)>& shows) {
  return eventually([&] {
    auto session = desktop.session_of("alice");
    return !session.is_null() && shows(session);
  });
}

TEST(Gateway, TheBoxSeesTheDesktopAndItsInputArrives) {
  testing::TestDesktop desktop({"alice:wonder land"});
  GatewayProcess gateway(desktop, desktop.port());
  auto box = rdp::Viewer::connect(gateway.box_config());
  ASSERT_TRUE(box) << box.error().describe() << gateway.log();
  ASSERT_TRUE(pump_until(**box, [&] { return (*box)->frame().rgb(500, 700) == test_desktop_background; }));

  // Scancode 0x1E: cells 27..30 of the key line white, 26 and 31 black.
  ASSERT_TRUE((*box)->send_keyboard(0, 0x1E));
  ASSERT_TRUE(pump_until(**box, [&] {
    auto frame = (*box)->frame();
    auto white = [&](std::uint32_t cell) { return frame.rgb(cell * 16 + 8, key_line_y) == 0xFFFFFF; };
    return white(27) && white(30) && !white(26) && !white(31);
  }));
  EXPECT_TRUE(report_shows(desktop, [](const Json& session) { return session.at("last_input").at("scancode") == 0x1E; }));
  // The desktop saw one client with no channel at all.
  auto seen = desktop.session_of("alice");
  EXPECT_TRUE(seen.at("channels").empty()) << seen.dump();
  EXPECT_EQ(gateway.events_named("desktop_connected").size(), 1u);
  EXPECT_EQ(gateway.events_named("first_frame").size(), 1u);
  EXPECT_TRUE(gateway.events_named("blocked_channel").empty());

  (*box)->disconnect();
  EXPECT_EQ(gateway.wait_exit(), 0) << gateway.log();
  auto ended = gateway.events_named("ended");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].at("reason"), "the box left");
  EXPECT_EQ(ended[0].at("session"), "s-1");
  EXPECT_GT(ended[0].at("bytes_to_box").get<std::uint64_t>(), 1024u * 768u * 4u);
  EXPECT_TRUE(report_shows(desktop, [](const Json& session) { return session.at("state") == "disconnected"; }));
}

TEST(Gateway, ABoxWithoutThisSessionsCredentialsIsRefused) {
  testing::TestDesktop desktop({"alice:wonder land"});
  GatewayProcess gateway(desktop, desktop.port());
  EXPECT_FALSE(rdp::Viewer::connect(gateway.box_config("someone-else-0123456789")));
  EXPECT_TRUE(eventually([&] { return !gateway.events_named("box_refused").empty(); })) << gateway.log();
  EXPECT_TRUE(gateway.events_named("desktop_connected").empty());
  EXPECT_TRUE(desktop.report().at("sessions").empty());
}

TEST(Gateway, AnUnreachableDesktopEndsTheBoxConnection) {
  testing::TestDesktop desktop({"alice:wonder land"});
  GatewayProcess wrong_password(desktop, desktop.port(), "not alice's password");
  EXPECT_FALSE(rdp::Viewer::connect(wrong_password.box_config()));
  EXPECT_TRUE(eventually([&] { return !wrong_password.events_named("desktop_unreachable").empty(); })) << wrong_password.log();
  EXPECT_TRUE(desktop.report().at("sessions").empty());
}

TEST(Gateway, AKilledGatewayLeavesTheDesktopSessionRunningAndANewOneReattaches) {
  testing::TestDesktop desktop({"alice:wonder land"});
  std::string session_id;
  {
    GatewayProcess gateway(desktop, desktop.port());
    auto box = rdp::Viewer::connect(gateway.box_config());
    ASSERT_TRUE(box) << box.error().describe();
    ASSERT_TRUE(report_shows(desktop, [](const Json& session) { return session.at("state") == "connected"; }));
    session_id = desktop.session_of("alice").at("session_id");
    gateway.kill_hard();
    EXPECT_EQ(gateway.wait_exit(), 128 + SIGKILL);
  }
  ASSERT_TRUE(report_shows(desktop, [](const Json& session) { return session.at("state") == "disconnected"; }));
  auto clock_then = desktop.session_of("alice").at("clock_ms").get<std::uint64_t>();
  EXPECT_TRUE(report_shows(desktop, [&](const Json& session) { return session.at("clock_ms").get<std::uint64_t>() > clock_then + 300; }));

  GatewayProcess again(desktop, desktop.port());
  auto box = rdp::Viewer::connect(again.box_config());
  ASSERT_TRUE(box) << box.error().describe();
  ASSERT_TRUE(report_shows(desktop, [](const Json& session) { return session.at("state") == "connected"; }));
  EXPECT_EQ(desktop.session_of("alice").at("session_id"), session_id);
  EXPECT_EQ(desktop.report().at("sessions").size(), 1u);
}

TEST(Gateway, ALogoffOnTheDesktopEndsTheGatewayAndTheBoxConnection) {
  testing::TestDesktop desktop({"alice:wonder land"});
  GatewayProcess gateway(desktop, desktop.port());
  auto box = rdp::Viewer::connect(gateway.box_config());
  ASSERT_TRUE(box) << box.error().describe();
  ASSERT_EQ(desktop.control("logoff alice"), "ok");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  bool box_dropped = false;
  while (!box_dropped && std::chrono::steady_clock::now() < deadline) box_dropped = !(*box)->pump(20ms);
  EXPECT_TRUE(box_dropped);
  EXPECT_EQ(gateway.wait_exit(), 0) << gateway.log();
  auto ended = gateway.events_named("ended");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_NE(ended[0].at("reason").get<std::string>().find("the desktop ended"), std::string::npos) << ended[0].dump();
  EXPECT_TRUE(report_shows(desktop, [](const Json& session) { return session.at("state") == "ended"; }));
}

TEST(GatewaySettings, RefusesMalformedSettingsNamingTheField) {
  EXPECT_FALSE(parse_gateway_settings("not json"));
  EXPECT_FALSE(parse_gateway_settings("{}"));
  GatewaySettings settings;
  settings.desktop.host = "desktop.lab";
  settings.desktop.port = 3389;
  settings.desktop.user = "alice";
  settings.certificate_pem = "pem";
  settings.private_key_pem = "pem";
  settings.box_user = "box";
  settings.box_password = box_password;
  auto text = serialise_gateway_settings(settings);
  ASSERT_TRUE(parse_gateway_settings(text));
  auto with = [&](const std::function<void(Json&)>& change) {
    auto json = Json::parse(text);
    change(json);
    return parse_gateway_settings(json.dump());
  };
  auto extra = with([](Json& json) { json["desktop"]["shell"] = "/bin/sh"; });
  ASSERT_FALSE(extra);
  EXPECT_NE(extra.error().message.find("desktop.shell"), std::string::npos);
  EXPECT_FALSE(with([](Json& json) { json["desktop"]["port"] = 0; }));
  EXPECT_FALSE(with([](Json& json) { json["desktop"]["port"] = "3389"; }));
  EXPECT_FALSE(with([](Json& json) { json["desktop"]["certificate_sha256"] = "AB"; }));
  EXPECT_FALSE(with([](Json& json) { json["box"]["password"] = "short"; }));
  EXPECT_FALSE(with([](Json& json) { json["context"]["colour"] = "blue"; }));
  EXPECT_FALSE(with([](Json& json) { json["desktop"]["user"] = std::string("al\0ice", 6); }));
}

}  // namespace
}  // namespace sdbox::broker
