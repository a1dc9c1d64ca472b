// The box's login end to end on real stacks: pcscd + vpcd + the softcard (personalised from the
// broker's users CA, a finger enrolled on it), libfprint's virtual_image sensor, and a broker in
// this process over loopback TLS. What the person sees is checked screen by screen, and what the
// broker audited beside it.
#include "card/pcsc_card_reader.hpp"
#include "card/piv_client.hpp"
#include "card_personalisation.hpp"
#include "card_stack.hpp"
#include "finger/fprint_sensor.hpp"
#include "finger_enrolment.hpp"
#include "desktop/process_rdp_client.hpp"
#include "login/login_machine.hpp"
#include "pattern_finger.hpp"
#include "pki/pki.hpp"
#include "store/sqlite_store.hpp"
#include "test_desktop_process.hpp"
#include "temp_dir.hpp"
#include "test_card.hpp"
#include "tunnel/tunnel_server.hpp"
#include "virtual_image_feeder.hpp"

#include "sdbox/common/crypto.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <thread>

namespace sdbox::firmware {
namespace {

using namespace std::chrono_literals;
using State = LoginMachine::State;
using testing::CardStack;

constexpr std::uint32_t kHolder = 31;
constexpr std::uint32_t kSomeoneElse = 32;

class RecordingScreen final : public Screen {
 public:
  void show(const ScreenView& view) override { views.push_back(view); }
  void show_input(const std::string& shown) override { inputs.push_back(shown); }
  [[nodiscard]] std::string text() const {
    if (views.empty()) return {};
    std::string all = views.back().title;
    for (const auto& line : views.back().lines) all += "\n" + line;
    return all;
  }
  std::vector<ScreenView> views;
  std::vector<std::string> inputs;
};

class BoxLoginTest : public ::testing::Test {
 protected:
  BoxLoginTest() : stack_(CardStack::instance()), socket_(dir_ / "sensor.sock") {
    ::setenv("FP_VIRTUAL_IMAGE", socket_.c_str(), 1);
  }

  void SetUp() override {
    // The broker's gateways run a FreeRDP server: FreeRDP 2's own key leak is suppressed for them
    // under ASan (they inherit this), ours are not.
    ::setenv("LSAN_OPTIONS", "suppressions=" SDBOX_LSAN_FREERDP_SUPPRESSIONS, 1);
    ::setenv("ASAN_OPTIONS", "fast_unwind_on_malloc=0", 1);
    ASSERT_TRUE(pki_.init({}));
    auto store = broker::SqliteStore::create({dir_ / "broker.db", &clock_});
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    ASSERT_TRUE(store_->add_site("paris", "test"));
    auto bundle = pki_.issue_client_bundle(broker::Pki::Authority::boxes, "box-1", dir_ / "box-1", 24h);
    ASSERT_TRUE(bundle);
    ASSERT_TRUE(store_->add_box(
        {0, "box-1", "paris", bundle->serial_hex, bundle->sha256_hex, broker::BoxState::active, "", {}}, "test"));
    ASSERT_TRUE(store_->add_user({0, "alice", "Alice Martin", broker::UserState::active, {}}, "test"));
    ASSERT_TRUE(store_->add_project({0, "census", "Census microdata"}, "test"));
    ASSERT_TRUE(store_->set_desktop({"census", "10.0.0.5", 3389}, "test"));
    ASSERT_TRUE(store_->set_desktop_account({"census", "alice", "alice", "desktop password"}, "test"));
    const broker::Day today = std::chrono::floor<std::chrono::days>(clock_.now());
    ASSERT_TRUE(store_->add_membership({0, "alice", "census", today - std::chrono::days(1), today + std::chrono::days(30)},
                                       "test"));
    personalise_card();
  }

  void TearDown() override {
    if (machine_) machine_->stop();
    if (rdp_) rdp_->stop();
    if (server_) server_->stop();
    io_.run_for(50ms);
    stack_.pull();
  }

  /// The enrolment station: key and certificate from the broker's users CA, PIN 123456, the
  /// right index enrolled from four captures; then the card is registered in the store.
  void personalise_card() {
    stack_.insert(dir_ / "card.json");
    auto reader = PcscCardReader::create({io_.get_executor(), cardlab::kReaderName, true});
    ASSERT_TRUE(reader->wait_for_card(true, 5s));
    auto channel = reader->connect();
    ASSERT_TRUE(channel) << channel.error().describe();
    PivClient card(**channel);
    ASSERT_TRUE(card.select());
    ctl::CardProfile profile;
    profile.holder_name = "Alice Martin";
    profile.new_pin = "123456";
    profile.new_puk = "12345678";
    profile.management_key = testing::default_management_key();
    auto issuer = ctl::issuer_from_ca({pki_.ca_directory(broker::Pki::Authority::users)});
    ASSERT_TRUE(issuer) << issuer.error().describe();
    auto personalised = ctl::personalise_card(card, *issuer, profile);
    ASSERT_TRUE(personalised) << personalised.error().describe();
    ctl::EnrolmentOptions options;
    options.management_key = testing::default_management_key();
    std::uint32_t impression = 0;
    auto enrolled = ctl::enrol_finger(
        card,
        [&]() -> Result<GrayImage> {
          const double turn = 0.04 * static_cast<double>(impression % 3);
          return testing::pattern_finger(kHolder, impression++, turn, 2.0, -3.0);
        },
        options);
    ASSERT_TRUE(enrolled) << enrolled.error().describe();
    auto certificate = crypto::certificate_from_der(personalised->certificate_der);
    ASSERT_TRUE(certificate);
    card_serial_ = crypto::certificate_serial_hex(**certificate);
    ASSERT_TRUE(store_->add_card({0, "alice", card_serial_, *crypto::certificate_fingerprint(**certificate),
                                  broker::CardState::active, "", clock_.now()},
                                 "test"));
  }

  void start_broker(std::uint16_t port = 0) {
    broker::TunnelServer::Config config;
    config.executor = io_.get_executor();
    config.store = store_.get();
    config.clock = &clock_;
    config.pki_directory = pki_.directory();
    config.listen = {boost::asio::ip::make_address("127.0.0.1"), port};
    config.gateways = &gateways_;
    config.desktops = &desktops_;
    auto server = broker::TunnelServer::create(config);
    ASSERT_TRUE(server) << server.error().describe();
    server_ = std::move(*server);
    server_->start();
  }

  void start_box(std::uint16_t broker_port) {
    reader_ = PcscCardReader::create({io_.get_executor(), cardlab::kReaderName, false});
    auto sensor = FprintSensor::create({io_.get_executor(), 500});
    ASSERT_TRUE(sensor) << sensor.error().describe();
    sensor_ = std::move(*sensor);
    auto tunnel = TunnelClient::create({io_.get_executor(),
                                        {"127.0.0.1", broker_port, "localhost"},
                                        BoxIdentity::from_bundle(dir_ / "box-1"),
                                        5000ms});
    ASSERT_TRUE(tunnel) << tunnel.error().describe();
    tunnel_ = std::move(*tunnel);
    LoginMachine::Settings settings;
    settings.retry_interval = 300ms;
    machine_ = LoginMachine::create({io_.get_executor(), reader_.get(), sensor_.get(), tunnel_.get(), &screen_, rdp_.get(),
                                     dir_ / "desktop.sock", settings});
    machine_->start();
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds patience = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(5ms);
      io_.restart();
    }
    return true;
  }

  bool reach(State state, std::chrono::milliseconds patience = 15s) {
    return run_until([&] { return machine_->state() == state; }, patience);
  }

  void type(const std::string& keys) {
    for (char key : keys) machine_->on_key(key);
    machine_->on_key('\n');
  }

  /// A finger showing `image` touches the sensor while the firmware keeps running.
  void touch_sensor(const GrayImage& image) {
    std::thread finger([&] {
      auto feeder = fingerfeed::VirtualImageFeeder::connect(socket_, 5s);
      if (feeder) (void)feeder->send_image(image);
    });
    run_until([] { return false; }, 300ms);
    finger.join();
  }

  nlohmann::json last_audit(const std::string& action) {
    auto records = store_->audit_records({0, 100000, action});
    if (!records || records->empty()) return nullptr;
    auto details = records->back().event.details;
    details["outcome"] = records->back().event.outcome;
    return details;
  }

  testing::TempDir dir_;
  CardStack& stack_;
  std::filesystem::path socket_;
  SystemClock clock_;
  broker::Pki pki_{dir_ / "pki"};
  std::unique_ptr<broker::SqliteStore> store_;
  boost::asio::io_context io_;
  broker::ProcessGatewayLauncher gateways_{SDBOX_GATEWAY_PROGRAM};
  broker::EndpointDesktopProvider desktops_;
  std::unique_ptr<broker::TunnelServer> server_;
  std::unique_ptr<PcscCardReader> reader_;
  std::unique_ptr<FprintSensor> sensor_;
  std::unique_ptr<TunnelClient> tunnel_;
  std::unique_ptr<ProcessRdpClient> rdp_;  ///< only for the tests that open the desktop
  RecordingScreen screen_;
  std::unique_ptr<LoginMachine> machine_;
  std::string card_serial_;
};

TEST_F(BoxLoginTest, PinProjectAndFingerLeadToSessionReadyWithWrongAttemptsShownAndAudited) {
  start_broker();
  start_box(server_->local_endpoint().port());
  ASSERT_TRUE(reach(State::pin)) << screen_.text();  // the card was already in the reader
  EXPECT_TRUE(machine_->view().masked);

  machine_->on_key('9');
  machine_->on_key('9');
  ASSERT_FALSE(screen_.inputs.empty());
  EXPECT_EQ(screen_.inputs.back(), "**") << "the PIN is never shown";
  machine_->on_key(0x7f);
  EXPECT_EQ(screen_.inputs.back(), "*");
  type("9999");  // 99999 after the erase: five digits, refused before the card
  EXPECT_NE(screen_.text().find("6 to 8 digits"), std::string::npos) << screen_.text();

  type("000000");
  ASSERT_EQ(machine_->state(), State::pin);
  EXPECT_NE(screen_.text().find("Wrong PIN: 2 tries left."), std::string::npos) << screen_.text();
  EXPECT_EQ(machine_->view().tone, ScreenView::Tone::problem);
  ASSERT_TRUE(run_until([&] { return !last_audit("login.card_event").is_null(); }));
  EXPECT_EQ(last_audit("login.card_event").value("event", ""), "pin_wrong");
  EXPECT_EQ(last_audit("login.card_event").value("tries_left", 0), 2);
  EXPECT_EQ(last_audit("login.card_event").value("reported_card_serial", ""), card_serial_);

  type("123456");
  ASSERT_TRUE(reach(State::choosing)) << screen_.text();
  EXPECT_NE(screen_.text().find("1) Census microdata (census)"), std::string::npos) << screen_.text();
  type("7");
  EXPECT_NE(screen_.text().find("Type a number from 1 to 1."), std::string::npos);
  type("1");
  ASSERT_TRUE(reach(State::finger)) << screen_.text();
  EXPECT_NE(screen_.text().find("right index finger"), std::string::npos) << screen_.text();

  touch_sensor(testing::pattern_finger(kSomeoneElse, 50, 0.1, -4, 4));
  ASSERT_TRUE(run_until([&] { return screen_.text().find("Finger not recognised") != std::string::npos; }))
      << screen_.text();
  EXPECT_NE(screen_.text().find("4 tries left"), std::string::npos) << screen_.text();
  ASSERT_TRUE(run_until([&] { return last_audit("login.card_event").value("event", "") == "finger_wrong"; }));
  EXPECT_EQ(last_audit("login.card_event").value("user", ""), "alice");

  touch_sensor(testing::pattern_finger(kHolder, 60, -0.08, 5, 2));
  ASSERT_TRUE(reach(State::session_ready)) << screen_.text();
  EXPECT_NE(screen_.text().find("Project census: desktop 10.0.0.5:3389."), std::string::npos) << screen_.text();
  EXPECT_EQ(last_audit("login.success").value("user", ""), "alice");
  EXPECT_EQ(last_audit("login.success").value("box", ""), "box-1");

  stack_.pull();
  ASSERT_TRUE(reach(State::ready)) << screen_.text();
  EXPECT_EQ(machine_->view().title, "You may connect");
}

TEST_F(BoxLoginTest, ASuspendedCardIsToldAtTheBoxAndPullingItReturnsToYouMayConnect) {
  ASSERT_TRUE(store_->set_card_state(card_serial_, broker::CardState::suspended, "reported lost", "test"));
  start_broker();
  start_box(server_->local_endpoint().port());
  ASSERT_TRUE(reach(State::pin)) << screen_.text();
  type("123456");
  ASSERT_TRUE(reach(State::card_problem)) << screen_.text();
  EXPECT_NE(screen_.text().find("This card is suspended."), std::string::npos) << screen_.text();
  EXPECT_EQ(last_audit("login.refused").value("reason", ""), "card_suspended");
  stack_.pull();
  ASSERT_TRUE(reach(State::ready)) << screen_.text();
}

TEST_F(BoxLoginTest, AnUnreachableBrokerIsShownAndRetriedUntilItAnswers) {
  start_broker();
  const auto port = server_->local_endpoint().port();
  server_->stop();
  server_.reset();
  io_.run_for(20ms);
  start_box(port);
  ASSERT_TRUE(reach(State::broker_unreachable)) << screen_.text();
  EXPECT_NE(screen_.text().find("The broker cannot be reached"), std::string::npos);
  EXPECT_NE(screen_.text().find("Retrying"), std::string::npos);
  start_broker(port);
  ASSERT_TRUE(reach(State::pin)) << screen_.text();
}

TEST_F(BoxLoginTest, ARevokedBoxIsToldWhyAndKeepsTrying) {
  ASSERT_TRUE(store_->revoke_box("box-1", "stolen from the reading room", "test"));
  start_broker();
  start_box(server_->local_endpoint().port());
  ASSERT_TRUE(reach(State::box_refused)) << screen_.text();
  EXPECT_NE(screen_.text().find("This box has been revoked."), std::string::npos) << screen_.text();
  EXPECT_NE(screen_.text().find("Retrying in"), std::string::npos) << screen_.text();
  ASSERT_TRUE(run_until([&] { return last_audit("tunnel.refused").value("reason", "") == "box_revoked"; }));
  EXPECT_EQ(last_audit("tunnel.refused").value("box", ""), "box-1");
}

TEST_F(BoxLoginTest, TheDesktopOpensAndPullingTheCardClosesItAtOnceWhileTheSessionGoesOn) {
  testing::TestDesktop desktop({"alice:desktop password"});
  ASSERT_TRUE(store_->set_desktop({"census", "127.0.0.1", desktop.port(), desktop.certificate_sha256()}, "test"));
  rdp_ = std::make_unique<ProcessRdpClient>(ProcessRdpClient::Config{io_.get_executor(), SDBOX_DESKTOP_VIEW_PROGRAM, 1024, 768});
  start_broker();
  start_box(server_->local_endpoint().port());
  auto log_in = [&] {
    ASSERT_TRUE(reach(State::pin)) << screen_.text();
    type("123456");
    ASSERT_TRUE(reach(State::choosing)) << screen_.text();
    type("1");
    ASSERT_TRUE(reach(State::finger)) << screen_.text();
    touch_sensor(testing::pattern_finger(kHolder, 60, -0.08, 5, 2));
    ASSERT_TRUE(reach(State::desktop)) << screen_.text();
  };
  log_in();
  EXPECT_TRUE(rdp_->running());
  ASSERT_TRUE(run_until([&] {
    auto session = desktop.session_of("alice");
    return !session.is_null() && session.at("state") == "connected";
  }));
  const auto session_id = desktop.session_of("alice").at("session_id");
  // Typing reaches the desktop (the box's client forwards the key), and frames come back.
  rdp_->send_key(0, 0x1E);
  ASSERT_TRUE(run_until([&] { return desktop.session_of("alice").at("last_input").at("scancode") == 0x1E; }));
  rdp_->save_screenshot(dir_ / "box-screen.ppm");
  ASSERT_TRUE(run_until([&] { return std::filesystem::exists(dir_ / "box-screen.ppm") && std::filesystem::file_size(dir_ / "box-screen.ppm") == 16 + 1024u * 768u * 3u; }));  // "P6\n1024 768\n255\n" + RGB

  // pull() returns once PC/SC reports the reader empty; from then on the client must be gone
  // within a second, and the broker told.
  stack_.pull();
  const auto removed = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] { return !rdp_->running() && machine_->state() == State::ready; }, 1000ms)) << screen_.text();
  const auto closed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - removed).count();
  std::cout << "card removal reported by PC/SC -> desktop client gone: " << closed_ms << " ms\n";
  EXPECT_LT(closed_ms, 1000);
  ASSERT_TRUE(run_until([&] {
    auto audited = last_audit("desktop.disconnected");
    return !audited.is_null() && audited.value("user", "") == "alice";
  }));
  ASSERT_TRUE(run_until([&] { return desktop.session_of("alice").at("state") == "disconnected"; }));
  const auto clock_then = desktop.session_of("alice").at("clock_ms").get<std::uint64_t>();
  ASSERT_TRUE(run_until([&] { return desktop.session_of("alice").at("clock_ms").get<std::uint64_t>() > clock_then + 300; }));

  // Card back in: PIN, finger, and the same desktop session.
  stack_.insert(dir_ / "card.json");
  log_in();
  ASSERT_TRUE(run_until([&] { return desktop.session_of("alice").at("state") == "connected"; }));
  EXPECT_EQ(desktop.session_of("alice").at("session_id"), session_id);
  EXPECT_EQ(desktop.session_of("alice").at("connections"), 2);
}

}  // namespace
}  // namespace sdbox::firmware
