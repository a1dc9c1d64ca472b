// The memory RDP client against the real test desktop (libfreerdp-server2) over loopback TLS.
#include "sdbox/rdp/viewer.hpp"

#include "test_desktop_process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

namespace sdbox::rdp {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t test_desktop_background = 0x3C6E8C;  // tools/test-desktop/desktop_canvas.hpp
constexpr std::uint32_t key_line_y = 64 + 2 * 16 + 8;        // the "key flags << 16 | scancode" bit line

ViewerConfig config_for(const testing::TestDesktop& desktop, const std::string& password = "wonder land") {
  ViewerConfig config;
  config.host = "127.0.0.1";
  config.port = desktop.port();
  config.user = "alice";
  config.password = password;
  config.width = 1024;
  config.height = 768;
  config.pinned_certificate_sha256 = desktop.certificate_sha256();
  config.connect_timeout = 5s;
  return config;
}

/// Pumps until `done` or 5 s; false on timeout or a connection failure.
bool pump_until(Viewer& viewer, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    if (!viewer.pump(20ms)) return false;
  }
  return done();
}

/// The desktop rewrites its report every 100 ms: polls it for up to 5 s.
bool report_shows(const testing::TestDesktop& desktop, const std::function<bool(const nlohmann::json&)>& shows) {
  for (int i = 0; i < 100; ++i) {
    auto session = desktop.session_of("alice");
    if (!session.is_null() && shows(session)) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

bool bit_cell_is_white(const FrameView& frame, std::uint32_t cell) { return frame.rgb(cell * 16 + 8, key_line_y) == 0xFFFFFF; }

TEST(Viewer, RendersTheDesktopAndItsInputArrives) {
  testing::TestDesktop desktop({"alice:wonder land"});
  auto viewer = Viewer::connect(config_for(desktop));
  ASSERT_TRUE(viewer) << viewer.error().describe() << desktop.log();
  ASSERT_TRUE(pump_until(**viewer, [&] { return (*viewer)->frame().rgb(500, 700) == test_desktop_background; }));
  auto painted = (*viewer)->take_painted();
  EXPECT_FALSE(painted.empty());
  EXPECT_EQ((*viewer)->frame().width, 1024u);

  // Scancode 0x1E ('A'): bits 1..4 of the low half, cells 27..30 white, 26 and 31 black.
  ASSERT_TRUE((*viewer)->send_keyboard(0x0000, 0x1E));
  ASSERT_TRUE(pump_until(**viewer, [&] {
    auto frame = (*viewer)->frame();
    return bit_cell_is_white(frame, 27) && bit_cell_is_white(frame, 30) && !bit_cell_is_white(frame, 31) &&
           !bit_cell_is_white(frame, 26);
  })) << desktop.log();
  EXPECT_TRUE(report_shows(desktop, [](const nlohmann::json& session) { return session.at("last_input").at("scancode") == 0x1E; }));

  // Frames keep coming as the desktop's clock ticks, without input.
  auto band = (*viewer)->frame().rgb(10, 10);
  EXPECT_TRUE(pump_until(**viewer, [&] { return (*viewer)->frame().rgb(10, 10) != band; }));
}

TEST(Viewer, LoadsNoVirtualChannel) {
  testing::TestDesktop desktop({"alice:wonder land"});
  auto viewer = Viewer::connect(config_for(desktop));
  ASSERT_TRUE(viewer) << viewer.error().describe();
  ASSERT_TRUE(pump_until(**viewer, [&] { return (*viewer)->paints() > 0; }));
  ASSERT_TRUE(report_shows(desktop, [](const nlohmann::json& session) { return session.at("frames_sent") > 0; }));
  auto session = desktop.session_of("alice");
  EXPECT_TRUE(session.at("channels").empty()) << session.dump();
  EXPECT_TRUE(session.at("devices").empty());
  EXPECT_EQ(session.at("clipboard").at("offer_acknowledged"), false);
}

TEST(Viewer, RefusesACertificateOtherThanThePinnedOne) {
  testing::TestDesktop desktop({"alice:wonder land"});
  auto config = config_for(desktop);
  config.pinned_certificate_sha256 = std::string(64, 'a');
  auto viewer = Viewer::connect(config);
  ASSERT_FALSE(viewer);
  EXPECT_NE(viewer.error().message.find("not the one pinned"), std::string::npos) << viewer.error().message;
  EXPECT_TRUE(desktop.report().at("sessions").empty());
}

TEST(Viewer, AWrongPasswordIsRefused) {
  testing::TestDesktop desktop({"alice:wonder land"});
  auto viewer = Viewer::connect(config_for(desktop, "guess"));
  EXPECT_FALSE(viewer);
  EXPECT_TRUE(desktop.report().at("sessions").empty());
}

TEST(Viewer, RefusesAnUnreachableServerAndABadSize) {
  ViewerConfig config;
  config.host = "127.0.0.1";
  config.port = 1;  // nothing listens there
  config.connect_timeout = 2s;
  EXPECT_FALSE(Viewer::connect(config));
  config.width = 50;
  auto refused = Viewer::connect(config);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().category, ErrorCategory::usage);
}

}  // namespace
}  // namespace sdbox::rdp
