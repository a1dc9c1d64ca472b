// The ops dashboard in a real browser: Debian's Chromium (headless, driven by playwright-core
// through tests/browser/dashboard_flow.mjs) signs in with an ops member's certificate, sees a box
// log in and its session appear live, ends it from the page; the box is told and the desktop
// session is logged off. Screenshots are kept as test artifacts.
#include "api_fixture.hpp"

#include "sdbox/common/process.hpp"

#include <fstream>
#include <sstream>

namespace sdbox::broker::api_testing {
namespace {

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_F(ApiTest, OpsEndALiveSessionFromTheDashboardInARealBrowser) {
  const std::filesystem::path driver = SDBOX_DASHBOARD_DRIVER;
  ASSERT_TRUE(std::filesystem::exists(driver.parent_path() / "node_modules" / "playwright-core"))
      << "playwright-core is not installed in " << driver.parent_path() << ": run tools/setup";
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium")) << "Chromium is not installed: run tools/setup";
  const std::filesystem::path artifacts = SDBOX_TEST_ARTIFACTS;
  std::filesystem::create_directories(artifacts);
  const auto screenshot = artifacts / "ops-dashboard.png";
  std::filesystem::remove(screenshot);
  const auto log = dir_ / "driver.log";
  const auto go = dir_ / "go";
  const auto staff = dir_ / "staff" / "olga";
  auto browser = Process::spawn({{"node", driver.string(), "--url", api_url() + "/", "--cert", (staff / "client.crt").string(),
                                  "--key", (staff / "client.key").string(), "--ca", (staff / "broker-ca.crt").string(),
                                  "--user", "alice", "--screenshot", screenshot.string(), "--timeout-ms", "90000", "--go-file", go.string()},
                                 {},
                                 log,
                                 std::nullopt});
  ASSERT_TRUE(browser) << browser.error().describe();
  auto said = [&](const std::string& line) { return read_text(log).find(line) != std::string::npos; };
  ASSERT_TRUE(run_until([&] { return said("page_loaded role=ops") || !browser->running(); }, 60s)) << read_text(log);
  ASSERT_TRUE(said("page_loaded role=ops")) << read_text(log);

  // A researcher logs in at a box: the page shows the session without being reloaded.
  auto& box = login("box-1");
  auto viewer = open_view(box);
  ASSERT_TRUE(viewer);
  ASSERT_TRUE(run_until([&] { return !desktop_.session_of("alice").is_null(); }));
  ASSERT_TRUE(run_until([&] { return said("session_seen") || !browser->running(); }, 60s)) << read_text(log);
  std::ofstream(go).put('\n');  // the page may end it now
  ASSERT_TRUE(run_until([&] { return said("session_gone") || !browser->running(); }, 60s)) << read_text(log);
  ASSERT_TRUE(run_until([&] { return !browser->running(); }, 20s));
  EXPECT_EQ(browser->wait(), 0) << read_text(log);
  const auto text = read_text(log);
  EXPECT_NE(text.find("session_seen id=1"), std::string::npos) << text;
  EXPECT_NE(text.find("session_gone id=1"), std::string::npos) << text;

  // Ended for real: the box was told why, the desktop session is logged off, all on record.
  ASSERT_TRUE(run_until([&] { return box.ended.has_value(); }));
  ASSERT_TRUE(*box.ended);
  EXPECT_EQ((*box.ended)->reason, enforcement::kSessionEnded);
  EXPECT_EQ(store_->session(1)->state, SessionState::ended);
  EXPECT_EQ(store_->session(1)->end_reason, "ended from the ops dashboard");
  EXPECT_TRUE(run_until([&] { return desktop_.session_of("alice").value("state", "") == "ended"; }));
  bool audited = false;
  for (const auto& record : audits("api.request")) {
    audited |= record.event.actor == "staff:olga" && record.event.details["method"] == "POST" &&
               record.event.details["target"] == "/api/v1/sessions/1/end" && record.event.details["status"] == 200;
  }
  EXPECT_TRUE(audited);
  ASSERT_TRUE(std::filesystem::exists(screenshot));
  EXPECT_GT(std::filesystem::file_size(screenshot), 10'000u);
  std::cout << "dashboard screenshots: " << screenshot.string() << " and "
            << (artifacts / "ops-dashboard-after.png").string() << "\n";
}

}  // namespace
}  // namespace sdbox::broker::api_testing
