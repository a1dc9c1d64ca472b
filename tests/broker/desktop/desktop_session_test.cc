// The whole desktop path over loopback: a box's tunnel (TunnelClient), its login with a software
// card, the broker starting a real sdbox-gateway per view, the box's DesktopLink relaying the
// stream, an RDP client (rdp::Viewer) on the box's unix socket, and the real test desktop.
#include "desktop/desktop_link.hpp"
#include "gateway/gateway_launcher.hpp"
#include "pki/pki.hpp"
#include "store/sqlite_store.hpp"
#include "tunnel/tunnel_client.hpp"
#include "tunnel/desktop_relay.hpp"
#include "tunnel/tunnel_server.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/login_proof.hpp"
#include "sdbox/rdp/viewer.hpp"

#include "fake_clock.hpp"
#include "temp_dir.hpp"
#include "test_desktop_process.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <signal.h>

#include <future>
#include <list>
#include <optional>
#include <thread>

namespace sdbox::broker {
namespace {

namespace asio = boost::asio;
using firmware::DesktopLink;
using firmware::TunnelClient;
using wire::Frame;
using wire::FrameType;
using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr std::uint32_t test_desktop_background = 0x3C6E8C;  // tools/test-desktop/desktop_canvas.hpp
constexpr std::uint32_t key_line_y = 64 + 2 * 16 + 8;

/// The real launcher, remembering what it started (so a test can kill a gateway).
class RecordingLauncher final : public GatewayLauncher {
 public:
  Result<LaunchedGateway> launch(const GatewaySettings& settings) override {
    auto launched = real_.launch(settings);
    if (launched) pids.push_back(launched->pid);
    return launched;
  }
  std::vector<pid_t> pids;

 private:
  ProcessGatewayLauncher real_{SDBOX_GATEWAY_PROGRAM};
};

/// One box: its tunnel, and the view it has open.
struct Box {
  std::string name;
  std::unique_ptr<TunnelClient> tunnel;
  std::shared_ptr<DesktopLink> link;
  std::optional<Result<DesktopLink::Ended>> ended;  ///< set when the link's run returns
  Json ready;
};

class DesktopSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The broker's gateways run a FreeRDP server: FreeRDP 2's own key leak is suppressed for them
    // under ASan (they inherit this), ours are not.
    ::setenv("LSAN_OPTIONS", "suppressions=" SDBOX_LSAN_FREERDP_SUPPRESSIONS, 1);
    ::setenv("ASAN_OPTIONS", "fast_unwind_on_malloc=0", 1);
    clock_.set(std::chrono::system_clock::now());
    ASSERT_TRUE(pki_.init({}));
    auto store = SqliteStore::create({dir_ / "broker.db", &clock_});
    ASSERT_TRUE(store) << store.error().describe();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->add_site("paris", "test"));
    for (const char* box : {"box-1", "box-2"}) {
      auto bundle = pki_.issue_client_bundle(Pki::Authority::boxes, box, dir_ / box, 24h);
      ASSERT_TRUE(bundle);
      ASSERT_TRUE(store_->add_box({0, box, "paris", bundle->serial_hex, bundle->sha256_hex, BoxState::active, "", {}}, "test"));
    }
    for (const char* user : {"alice", "bob"}) {
      ASSERT_TRUE(store_->add_user({0, user, std::string(user) + " Example", UserState::active, {}}, "test"));
      cards_[user] = issue_card(user);
    }
    ASSERT_TRUE(store_->add_project({0, "census", "Census microdata"}, "test"));
    ASSERT_TRUE(store_->set_desktop(
        {"census", "127.0.0.1", desktop_.port(), desktop_.certificate_sha256(), "unix:" + desktop_.control_path().string()}, "test"));
    ASSERT_TRUE(store_->set_desktop_account({"census", "alice", "alice", "alice desktop pw"}, "test"));
    const Day today = std::chrono::floor<std::chrono::days>(clock_.now());
    ASSERT_TRUE(store_->add_membership({0, "alice", "census", today - std::chrono::days(1), today + std::chrono::days(1)}, "test"));

    TunnelServer::Config config;
    config.executor = io_.get_executor();
    config.store = store_.get();
    config.clock = &clock_;
    config.pki_directory = pki_.directory();
    config.listen = {asio::ip::make_address("127.0.0.1"), 0};
    config.gateways = &launcher_;
    config.desktops = &desktops_;
    auto server = TunnelServer::create(config);
    ASSERT_TRUE(server) << server.error().describe();
    server_ = std::move(*server);
    server_->start();
  }

  void TearDown() override {
    // The boxes' coroutines hold their tunnels: close them and let everything finish before the
    // boxes go (they are members, destroyed after this).
    for (auto& box : boxes_) box.tunnel->close();
    server_->stop();
    io_.run_for(200ms);
  }

  std::pair<crypto::PKey, Bytes> issue_card(const std::string& login) {
    auto ca = crypto::certificate_from_pem_file(pki_.ca_certificate(Pki::Authority::users));
    auto ca_key = crypto::private_key_from_pem_file(pki_.ca_key(Pki::Authority::users));
    auto key = crypto::generate_ec_p256();
    crypto::CertificateRequest request;
    request.common_name = login;
    request.client_auth = true;
    auto certificate = crypto::issue_certificate(request, **key, **ca_key, ca->get());
    EXPECT_TRUE(store_->add_card({0, login, crypto::certificate_serial_hex(**certificate),
                                  *crypto::certificate_fingerprint(**certificate), CardState::active, "", clock_.now()},
                                 "test"));
    return {std::move(*key), *crypto::certificate_to_der(**certificate)};
  }

  /// Runs the io_context (broker and boxes) until `done` or 10 s.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds patience = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(5ms);
      io_.restart();
    }
    return true;
  }

  template <class T>
  T run(asio::awaitable<T> work) {
    std::optional<T> result;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(work)); }, asio::detached);
    if (!run_until([&] { return result.has_value(); })) throw std::runtime_error("the coroutine did not finish");
    return std::move(*result);
  }

  /// A box connects its tunnel and logs `user` in to census; its DesktopLink starts listening.
  Box& login(const std::string& box_name, const std::string& user) {
    Box& box = new_box(box_name);
    auto created = TunnelClient::create({io_.get_executor(),
                                         {"127.0.0.1", server_->local_endpoint().port(), "localhost"},
                                         firmware::BoxIdentity::from_bundle(dir_ / box_name),
                                         5000ms});
    EXPECT_TRUE(created);
    box.tunnel = std::move(*created);
    EXPECT_TRUE(run(box.tunnel->connect()));
    box.ready = login_on(box, user).body;
    return box;
  }

  Box& new_box(const std::string& box_name) { return boxes_.emplace_back(Box{box_name, nullptr, nullptr, std::nullopt, {}}); }

  Frame login_on(Box& box, const std::string& user) {
    auto& [key, certificate] = cards_.at(user);
    const Frame begin{FrameType::login_begin, {{"certificate", to_hex(certificate)}}};
    auto projects = run(box.tunnel->request(begin));
    EXPECT_TRUE(projects);
    if (!projects || projects->type != FrameType::projects) return projects ? *projects : Frame{};
    const Frame choose{FrameType::choose_project, {{"project", "census"}}};
    auto challenge = run(box.tunnel->request(choose));
    Bytes nonce;
    EXPECT_TRUE(from_hex(challenge->body.value("challenge", ""), nonce));
    auto signature = crypto::ecdsa_sign_digest(*key, login::proof_digest(nonce, box.tunnel->exporter(), box.name, "census"));
    const Frame proof{FrameType::login_proof, {{"signature", to_hex(*signature)}}};
    auto ready = run(box.tunnel->request(proof));
    EXPECT_TRUE(ready);
    if (ready && ready->type == FrameType::session_ready) start_link(box);
    return *ready;
  }

  void start_link(Box& box) {
    auto link = DesktopLink::create({io_.get_executor(), box.tunnel.get(), dir_ / (box.name + ".sock")});
    ASSERT_TRUE(link) << link.error().describe();
    box.link = *link;
    box.ended.reset();
    asio::co_spawn(io_, [&box, link = *link]() -> asio::awaitable<void> { box.ended.emplace(co_await link->run()); },
                   asio::detached);
  }

  rdp::ViewerConfig viewer_config(const Box& box) {
    rdp::ViewerConfig config;
    config.host = (dir_ / (box.name + ".sock")).string();
    config.user = box.ready.at("gateway").at("user");
    config.password = box.ready.at("gateway").at("password");
    config.pinned_certificate_sha256 = box.ready.at("gateway").at("certificate_sha256");
    config.width = 1024;
    config.height = 768;
    config.connect_timeout = 8s;
    return config;
  }

  /// The box's RDP client connects (on its own thread, as the firmware's adapter runs it) while
  /// this thread runs the broker and the box's relay.
  std::unique_ptr<rdp::Viewer> open_view(const Box& box) {
    auto connecting = std::async(std::launch::async, [config = viewer_config(box)] { return rdp::Viewer::connect(config); });
    EXPECT_TRUE(run_until([&] { return connecting.wait_for(0ms) == std::future_status::ready; }, 15s));
    auto viewer = connecting.get();
    EXPECT_TRUE(viewer) << viewer.error().describe() << desktop_.log();
    return viewer ? std::move(*viewer) : nullptr;
  }

  /// Pumps the viewer (and the io_context) until `done`.
  bool pump_until(rdp::Viewer& viewer, const std::function<bool()>& done) {
    return run_until([&] {
      if (done()) return true;
      (void)viewer.pump(2ms);
      return done();
    });
  }

  Json desktop_session(const std::string& user) {
    Json session;
    run_until([&] {
      session = desktop_.session_of(user);
      return !session.is_null();
    }, 3s);
    return session;
  }

  bool desktop_shows(const std::function<bool(const Json&)>& shows) {
    return run_until([&] {
      auto session = desktop_.session_of("alice");
      return !session.is_null() && shows(session);
    });
  }

  std::vector<Json> audits(const std::string& action) {
    std::vector<Json> found;
    auto records = store_->audit_records({0, 100000, action});
    EXPECT_TRUE(records);
    for (const auto& record : *records) found.push_back(record.event.details);
    return found;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::TestDesktop desktop_{{"alice:alice desktop pw"}};
  Pki pki_{dir_ / "pki"};
  std::unique_ptr<SqliteStore> store_;
  asio::io_context io_;
  RecordingLauncher launcher_;
  EndpointDesktopProvider desktops_;
  std::unique_ptr<TunnelServer> server_;
  std::map<std::string, std::pair<crypto::PKey, Bytes>> cards_;
  std::list<Box> boxes_;
};

TEST_F(DesktopSessionTest, TheBoxSeesItsDesktopThroughTheTunnelAndCardPullKeepsTheSession) {
  auto& box = login("box-1", "alice");
  ASSERT_TRUE(box.ready.contains("gateway")) << box.ready.dump();
  EXPECT_EQ(box.ready.at("gateway").at("certificate_sha256").get<std::string>().size(), 64u);
  auto viewer = open_view(box);
  ASSERT_TRUE(viewer);
  ASSERT_TRUE(pump_until(*viewer, [&] { return viewer->frame().rgb(500, 700) == test_desktop_background; }));

  ASSERT_TRUE(viewer->send_keyboard(0, 0x1E));
  ASSERT_TRUE(pump_until(*viewer, [&] {
    auto frame = viewer->frame();
    auto white = [&](std::uint32_t cell) { return frame.rgb(cell * 16 + 8, key_line_y) == 0xFFFFFF; };
    return white(27) && white(30) && !white(26) && !white(31);
  }));
  EXPECT_TRUE(desktop_shows([](const Json& session) { return session.at("last_input").at("scancode") == 0x1E; }));
  const auto session_id = desktop_session("alice").at("session_id");
  EXPECT_EQ(audits("desktop.connected").size(), 1u);

  // Card pulled: the box closes the view; the desktop session stays, its clock going on.
  box.link->close("disconnect");
  ASSERT_TRUE(run_until([&] { return box.ended.has_value(); }));
  ASSERT_TRUE(*box.ended) << box.ended->error().describe();
  EXPECT_TRUE((*box.ended)->by_box);
  EXPECT_FALSE(viewer->pump(200ms) && viewer->pump(200ms) && viewer->pump(200ms));  // cut off
  viewer.reset();
  ASSERT_TRUE(desktop_shows([](const Json& session) { return session.at("state") == "disconnected"; }));
  const auto clock_then = desktop_session("alice").at("clock_ms").get<std::uint64_t>();
  EXPECT_TRUE(desktop_shows([&](const Json& session) { return session.at("clock_ms").get<std::uint64_t>() > clock_then + 300; }));
  EXPECT_EQ(audits("desktop.disconnected").size(), 1u);

  // Card back in, on the same tunnel: the same desktop session.
  auto again = login_on(box, "alice");
  ASSERT_EQ(again.type, FrameType::session_ready) << again.body.dump();
  box.ready = again.body;
  auto second = open_view(box);
  ASSERT_TRUE(second);
  ASSERT_TRUE(desktop_shows([](const Json& session) { return session.at("state") == "connected" && session.at("connections") == 2; }));
  EXPECT_EQ(desktop_session("alice").at("session_id"), session_id);
  EXPECT_EQ(desktop_.report().at("sessions").size(), 1u);
}

TEST_F(DesktopSessionTest, ALoginOnAnotherBoxTakesTheDesktopOverAndTheFirstBoxIsTold) {
  auto& first = login("box-1", "alice");
  auto first_view = open_view(first);
  ASSERT_TRUE(first_view);
  const auto session_id = desktop_session("alice").at("session_id");

  auto& second = login("box-2", "alice");
  ASSERT_TRUE(run_until([&] { return first.ended.has_value(); }));
  ASSERT_TRUE(*first.ended) << first.ended->error().describe();
  EXPECT_FALSE((*first.ended)->by_box);
  EXPECT_EQ((*first.ended)->reason, session_end::kTakenOver);
  EXPECT_FALSE((*first.ended)->message.empty());

  auto second_view = open_view(second);
  ASSERT_TRUE(second_view);
  ASSERT_TRUE(pump_until(*second_view, [&] { return second_view->frame().rgb(500, 700) == test_desktop_background; }));
  EXPECT_EQ(desktop_session("alice").at("session_id"), session_id);
  auto taken = audits("desktop.taken_over");
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].at("by_box"), "box-2");
  // The first box's tunnel is back to logins: it can log in again (and take it back).
  auto back = login_on(first, "alice");
  EXPECT_EQ(back.type, FrameType::session_ready) << back.body.dump();
}

TEST_F(DesktopSessionTest, AKilledGatewayEndsOnlyThatViewAndTheBoxCanComeBack) {
  auto& box = login("box-1", "alice");
  auto viewer = open_view(box);
  ASSERT_TRUE(viewer);
  const auto session_id = desktop_session("alice").at("session_id");
  ASSERT_EQ(launcher_.pids.size(), 1u);
  ::kill(launcher_.pids[0], SIGKILL);
  ASSERT_TRUE(run_until([&] { return box.ended.has_value(); }));
  ASSERT_TRUE(*box.ended) << box.ended->error().describe();
  EXPECT_EQ((*box.ended)->reason, session_end::kGatewayFailed);
  EXPECT_EQ(audits("desktop.gateway_failed").size(), 1u);
  viewer.reset();
  ASSERT_TRUE(desktop_shows([](const Json& session) { return session.at("state") == "disconnected"; }));

  auto again = login_on(box, "alice");
  ASSERT_EQ(again.type, FrameType::session_ready) << again.body.dump();
  box.ready = again.body;
  auto second = open_view(box);
  ASSERT_TRUE(second);
  EXPECT_EQ(desktop_session("alice").at("session_id"), session_id);
}

TEST_F(DesktopSessionTest, CloseSessionOnTheBoxLogsOffTheDesktopSession) {
  auto& box = login("box-1", "alice");
  auto viewer = open_view(box);
  ASSERT_TRUE(viewer);
  const auto session_id = desktop_session("alice").at("session_id");
  box.link->close("logoff");
  ASSERT_TRUE(run_until([&] { return box.ended.has_value(); }));
  ASSERT_TRUE(*box.ended);
  EXPECT_TRUE((*box.ended)->by_box);
  EXPECT_EQ((*box.ended)->reason, "logged_off");
  ASSERT_TRUE(desktop_shows([](const Json& session) { return session.at("state") == "ended"; }));
  auto logoffs = audits("desktop.logoff");
  ASSERT_EQ(logoffs.size(), 1u);
  EXPECT_EQ(logoffs[0].at("user"), "alice");
  EXPECT_FALSE(logoffs[0].contains("error")) << logoffs[0].dump();

  // The next login starts a fresh desktop session.
  viewer.reset();
  auto again = login_on(box, "alice");
  ASSERT_EQ(again.type, FrameType::session_ready);
  box.ready = again.body;
  auto second = open_view(box);
  ASSERT_TRUE(second);
  ASSERT_TRUE(desktop_shows([](const Json& session) { return session.at("state") == "connected"; }));
  EXPECT_NE(desktop_session("alice").at("session_id"), session_id);
}

TEST_F(DesktopSessionTest, AMalformedCloseFromTheBoxIsAProtocolErrorThatEndsTheTunnelAndTheGateway) {
  auto& box = login("box-1", "alice");
  ASSERT_EQ(launcher_.pids.size(), 1u);
  box.link.reset();  // this box crafts its own frames from here on
  const Frame wrong{FrameType::desktop_close, {{"action", 42}}};
  ASSERT_TRUE(run(box.tunnel->send(wrong)));
  ASSERT_TRUE(run_until([&] {
    auto closed = audits("tunnel.close");
    return !closed.empty() && closed.back().value("reason", "").find("desktop_close needs action") != std::string::npos;
  }));
  // The gateway was stopped with the view.
  ASSERT_TRUE(run_until([&] { return ::kill(launcher_.pids[0], 0) != 0; }));
}

TEST_F(DesktopSessionTest, NoDesktopWithoutALoginWhateverFramesTheBoxCrafts) {
  Box& box = new_box("box-1");
  auto created = TunnelClient::create({io_.get_executor(),
                                       {"127.0.0.1", server_->local_endpoint().port(), "localhost"},
                                       firmware::BoxIdentity::from_bundle(dir_ / "box-1"),
                                       5000ms});
  ASSERT_TRUE(created);
  box.tunnel = std::move(*created);
  ASSERT_TRUE(run(box.tunnel->connect()));
  // An RDP connection request, and a "close" of a view that does not exist: dropped.
  const Frame rdp{FrameType::desktop_data, Json::object(), Bytes{0x03, 0x00, 0x00, 0x13, 0x0e, 0xe0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0}};
  ASSERT_TRUE(run(box.tunnel->send(rdp)));
  const Frame close{FrameType::desktop_close, {{"action", "logoff"}}};
  ASSERT_TRUE(run(box.tunnel->send(close)));
  // bob is no member of census: refused, and still no gateway.
  const Frame begin{FrameType::login_begin, {{"certificate", to_hex(cards_.at("bob").second)}}};
  auto answer = run(box.tunnel->request(begin));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->type, FrameType::refusal) << answer->body.dump();
  EXPECT_TRUE(launcher_.pids.empty());
  EXPECT_TRUE(desktop_.report().at("sessions").empty());
}

}  // namespace
}  // namespace sdbox::broker
