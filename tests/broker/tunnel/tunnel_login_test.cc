// The tunnel and the login over real loopback TLS 1.3, with certificates made in the test: the
// broker's side of every refusal, each checked both in what the box receives and in the audit.
// The card is played by a software key here; tests/firmware drives the same login with the
// softcard through pcscd.
#include "pki/pki.hpp"
#include "store/sqlite_store.hpp"
#include "tunnel/tunnel_client.hpp"
#include "tunnel/tunnel_server.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/login_proof.hpp"

#include "fake_clock.hpp"
#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <thread>

namespace sdbox::broker {
namespace {

namespace asio = boost::asio;
using firmware::TunnelClient;
using wire::Frame;
using wire::FrameType;
using namespace std::chrono_literals;

struct SoftwareCard {
  crypto::PKey key;
  Bytes certificate_der;
  std::string serial;
};

class TunnelLoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.set(std::chrono::system_clock::now());
    ASSERT_TRUE(pki_.init({}));
    auto store = SqliteStore::create({dir_ / "broker.db", &clock_});
    ASSERT_TRUE(store) << store.error().describe();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->add_site("paris", "test"));
    add_box("box-1");
    add_user("alice");
    alice_card_ = issue_card("alice", clock_.now());
    ASSERT_TRUE(store_->add_project({0, "census", "Census microdata"}, "test"));
    ASSERT_TRUE(store_->add_project({0, "health", "Health records"}, "test"));
    ASSERT_TRUE(store_->add_project({0, "secret", "Not for alice"}, "test"));
    ASSERT_TRUE(store_->set_desktop({"census", "10.0.0.5", 3389}, "test"));
    ASSERT_TRUE(store_->set_desktop({"health", "10.0.0.6", 3389}, "test"));
    ASSERT_TRUE(store_->set_desktop_account({"census", "alice", "alice", "desktop password"}, "test"));
    ASSERT_TRUE(store_->set_desktop_account({"health", "alice", "alice", "desktop password"}, "test"));
    add_membership("alice", "census", -10, 10);
    add_membership("alice", "health", -10, 10);
    start_server();
  }

  void TearDown() override {
    if (server_) server_->stop();
    io_.run_for(50ms);
  }

  void start_server(std::chrono::seconds idle = 60s) {
    if (server_) server_->stop();
    TunnelServer::Config config;
    config.executor = io_.get_executor();
    config.store = store_.get();
    config.clock = &clock_;
    config.pki_directory = pki_.directory();
    config.settings.idle_timeout = idle;
    config.listen = {asio::ip::make_address("127.0.0.1"), 0};
    config.gateways = &gateways_;
    config.desktops = &desktops_;
    auto server = TunnelServer::create(config);
    ASSERT_TRUE(server) << server.error().describe();
    server_ = std::move(*server);
    server_->start();
  }

  Pki::Bundle add_box(const std::string& name, bool registered = true) {
    auto bundle = pki_.issue_client_bundle(Pki::Authority::boxes, name, dir_ / name, 24h);
    EXPECT_TRUE(bundle) << bundle.error().describe();
    if (registered) {
      EXPECT_TRUE(store_->add_box({0, name, "paris", bundle->serial_hex, bundle->sha256_hex, BoxState::active, "", {}},
                                  "test"));
    }
    return *bundle;
  }

  void add_user(const std::string& login) {
    ASSERT_TRUE(store_->add_user({0, login, login + " Example", UserState::active, {}}, "test"));
  }

  SoftwareCard issue_card(const std::string& login, TimePoint enrolled_at, bool registered = true) {
    auto ca = crypto::certificate_from_pem_file(pki_.ca_certificate(Pki::Authority::users));
    auto ca_key = crypto::private_key_from_pem_file(pki_.ca_key(Pki::Authority::users));
    auto key = crypto::generate_ec_p256();
    crypto::CertificateRequest request;
    request.common_name = login;
    request.client_auth = true;
    auto certificate = crypto::issue_certificate(request, **key, **ca_key, ca->get());
    EXPECT_TRUE(certificate);
    SoftwareCard card{std::move(*key), *crypto::certificate_to_der(**certificate),
                      crypto::certificate_serial_hex(**certificate)};
    if (registered) {
      EXPECT_TRUE(store_->add_card(
          {0, login, card.serial, *crypto::certificate_fingerprint(**certificate), CardState::active, "", enrolled_at},
          "test"));
    }
    return card;
  }

  void add_membership(const std::string& login, const std::string& project, int from_days, int until_days) {
    const Day today = std::chrono::floor<std::chrono::days>(clock_.now());
    ASSERT_TRUE(store_->add_membership(
        {0, login, project, today + std::chrono::days(from_days), today + std::chrono::days(until_days)}, "test"));
  }

  std::unique_ptr<TunnelClient> client(const std::string& bundle = "box-1") {
    auto created = TunnelClient::create({io_.get_executor(),
                                         {"127.0.0.1", server_->local_endpoint().port(), "localhost"},
                                         firmware::BoxIdentity::from_bundle(dir_ / bundle),
                                         5000ms});
    EXPECT_TRUE(created) << created.error().describe();
    return std::move(*created);
  }

  /// Runs a coroutine on the shared io_context (the broker runs there too) to completion.
  template <class T>
  T run(asio::awaitable<T> work) {
    std::optional<T> result;
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(work)); },
        [&](const std::exception_ptr& thrown) {
          failure = thrown;
          done = true;
        });
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("the test coroutine did not finish");
      io_.run_for(5ms);
      io_.restart();
    }
    if (failure) std::rethrow_exception(failure);
    return std::move(*result);
  }

  Result<Frame> connect(TunnelClient& tunnel) { return run(tunnel.connect()); }
  Result<Frame> request(TunnelClient& tunnel, const Frame& frame) { return run(tunnel.request(frame)); }

  Frame begin(TunnelClient& tunnel, const SoftwareCard& card) {
    auto projects = request(tunnel, {FrameType::login_begin, {{"certificate", to_hex(card.certificate_der)}}});
    EXPECT_TRUE(projects) << projects.error().describe();
    return *projects;
  }

  Bytes sign(const SoftwareCard& card, const std::string& challenge_hex, const Bytes& exporter,
             const std::string& box, const std::string& project) {
    Bytes challenge;
    EXPECT_TRUE(from_hex(challenge_hex, challenge));
    return *crypto::ecdsa_sign_digest(*card.key, login::proof_digest(challenge, exporter, box, project));
  }

  /// The whole login as a box does it, signing for `signed_project`.
  Frame login(TunnelClient& tunnel, const SoftwareCard& card, const std::string& project,
              const std::string& signed_project = "") {
    auto projects = begin(tunnel, card);
    EXPECT_EQ(projects.type, FrameType::projects) << projects.body.dump();
    auto challenge = request(tunnel, {FrameType::choose_project, {{"project", project}}});
    EXPECT_TRUE(challenge);
    EXPECT_EQ(challenge->type, FrameType::challenge) << challenge->body.dump();
    const auto signature = sign(card, challenge->body.value("challenge", ""), tunnel.exporter(), "box-1",
                                signed_project.empty() ? project : signed_project);
    auto answer = request(tunnel, {FrameType::login_proof, {{"signature", to_hex(signature)}}});
    EXPECT_TRUE(answer) << answer.error().describe();
    return *answer;
  }

  /// The details of the last audit record with this action (null when there is none).
  nlohmann::json last_audit(const std::string& action) {
    auto records = store_->audit_records({0, 100000, action});
    EXPECT_TRUE(records);
    if (!records || records->empty()) return nullptr;
    auto details = records->back().event.details;
    details["outcome"] = records->back().event.outcome;
    return details;
  }

  void expect_refusal(const Frame& frame, const std::string& reason) {
    EXPECT_EQ(frame.type, FrameType::refusal) << frame.body.dump();
    EXPECT_EQ(frame.body.value("reason", ""), reason);
    EXPECT_FALSE(frame.body.value("message", "").empty());
    auto audited = last_audit("login.refused");
    ASSERT_FALSE(audited.is_null());
    EXPECT_EQ(audited.value("reason", ""), reason);
    EXPECT_EQ(audited.value("box", ""), "box-1");
    EXPECT_EQ(audited.value("outcome", ""), "refused");
  }

  void expect_tunnel_refused_audit(const std::string& reason) {
    // The broker audits after its side of the handshake ends; give it a moment.
    for (int i = 0; i < 100 && (last_audit("tunnel.refused").is_null() ||
                                last_audit("tunnel.refused").value("reason", "") != reason);
         ++i) {
      io_.run_for(10ms);
      io_.restart();
    }
    auto audited = last_audit("tunnel.refused");
    ASSERT_FALSE(audited.is_null()) << "no tunnel.refused record";
    EXPECT_EQ(audited.value("reason", ""), reason) << audited.dump();
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  Pki pki_{dir_ / "pki"};
  std::unique_ptr<SqliteStore> store_;
  asio::io_context io_;
  ProcessGatewayLauncher gateways_{SDBOX_GATEWAY_PROGRAM};
  EndpointDesktopProvider desktops_;
  std::unique_ptr<TunnelServer> server_;
  SoftwareCard alice_card_;
};

TEST_F(TunnelLoginTest, ARegisteredBoxAndAValidCardReachSessionReadyAndEveryStepIsAudited) {
  auto tunnel = client();
  auto hello = connect(*tunnel);
  ASSERT_TRUE(hello) << hello.error().describe();
  EXPECT_EQ(hello->type, FrameType::hello);
  EXPECT_EQ(hello->body.value("box", ""), "box-1");
  EXPECT_EQ(hello->body.value("site", ""), "paris");
  EXPECT_EQ(tunnel->exporter().size(), login::kExporterSize);

  auto projects = begin(*tunnel, alice_card_);
  ASSERT_EQ(projects.type, FrameType::projects) << projects.body.dump();
  EXPECT_EQ(projects.body.at("user"), "alice");
  ASSERT_EQ(projects.body.at("projects").size(), 2U);  // census and health, not secret
  EXPECT_EQ(projects.body.at("projects")[0].at("name"), "census");

  auto ready = login(*tunnel, alice_card_, "census");
  ASSERT_EQ(ready.type, FrameType::session_ready) << ready.body.dump();
  EXPECT_EQ(ready.body.at("project"), "census");
  EXPECT_EQ(ready.body.at("desktop").at("host"), "10.0.0.5");
  EXPECT_EQ(ready.body.at("desktop").at("port"), 3389);

  auto sessions = store_->sessions();
  ASSERT_TRUE(sessions);
  ASSERT_EQ(sessions->size(), 1U);
  EXPECT_EQ(sessions->front().user, "alice");
  EXPECT_EQ(sessions->front().box, "box-1");
  auto records = store_->audit_records({});
  std::vector<std::string> broker_actions;
  for (const auto& record : *records) {
    if (record.event.actor == "broker") broker_actions.push_back(record.event.action);
  }
  EXPECT_EQ(broker_actions, (std::vector<std::string>{"tunnel.open", "login.begin", "login.begin", "login.challenge",
                                                      "session.open", "login.success"}));
  EXPECT_EQ(last_audit("login.success").value("user", ""), "alice");
  EXPECT_TRUE(store_->verify_audit()->intact());
}

TEST_F(TunnelLoginTest, ABoxCertifiedButNotRegisteredIsRefused) {
  add_box("box-9", false);
  auto tunnel = client("box-9");
  auto answer = connect(*tunnel);
  ASSERT_TRUE(answer) << answer.error().describe();
  EXPECT_EQ(answer->type, FrameType::refusal);
  EXPECT_EQ(answer->body.value("reason", ""), tunnel_refusal::kBoxUnknown);
  EXPECT_NE(answer->body.value("message", "").find("not registered"), std::string::npos);
  expect_tunnel_refused_audit(tunnel_refusal::kBoxUnknown);
  EXPECT_EQ(last_audit("tunnel.refused").value("box", ""), "box-9");
}

TEST_F(TunnelLoginTest, ARevokedBoxIsRefusedByTheCrlInTheHandshake) {
  auto box = store_->box("box-1");
  ASSERT_TRUE(store_->revoke_box("box-1", "stolen", "test"));
  ASSERT_TRUE(pki_.write_crl(Pki::Authority::boxes, {box->certificate_serial}));
  auto tunnel = client();
  auto answer = connect(*tunnel);
  ASSERT_FALSE(answer);
  EXPECT_NE(answer.error().message.find("certificate revoked"), std::string::npos) << answer.error().message;
  expect_tunnel_refused_audit(tunnel_refusal::kBoxRevoked);
  EXPECT_EQ(last_audit("tunnel.refused").value("claimed_box", ""), "box-1");
}

TEST_F(TunnelLoginTest, ARevokedBoxIsRefusedByTheStoreEvenBeforeTheCrlIsRewritten) {
  ASSERT_TRUE(store_->revoke_box("box-1", "stolen", "test"));
  auto tunnel = client();
  auto answer = connect(*tunnel);
  ASSERT_TRUE(answer) << answer.error().describe();
  EXPECT_EQ(answer->body.value("reason", ""), tunnel_refusal::kBoxRevoked);
  EXPECT_NE(answer->body.value("message", "").find("revoked"), std::string::npos);
  expect_tunnel_refused_audit(tunnel_refusal::kBoxRevoked);
}

TEST_F(TunnelLoginTest, ACertificateFromAnotherCaIsRefused) {
  Pki other(dir_ / "other-pki");
  ASSERT_TRUE(other.init({}));
  auto bundle = other.issue_client_bundle(Pki::Authority::boxes, "box-1", dir_ / "impostor", 24h);
  ASSERT_TRUE(bundle);
  // The impostor trusts our broker (it copied our CA), but its certificate is not ours.
  std::filesystem::copy_file(pki_.ca_certificate(Pki::Authority::boxes), dir_ / "impostor" / "broker-ca.crt",
                             std::filesystem::copy_options::overwrite_existing);
  auto tunnel = client("impostor");
  auto answer = connect(*tunnel);
  ASSERT_FALSE(answer);
  EXPECT_NE(answer.error().message.find("refused this box's certificate"), std::string::npos) << answer.error().message;
  expect_tunnel_refused_audit(tunnel_refusal::kWrongCa);
}

TEST_F(TunnelLoginTest, AnExpiredBoxCertificateIsRefused) {
  auto bundle = pki_.issue_client_bundle(Pki::Authority::boxes, "box-old", dir_ / "box-old", -1h);
  ASSERT_TRUE(bundle);
  ASSERT_TRUE(store_->add_box({0, "box-old", "paris", bundle->serial_hex, bundle->sha256_hex, BoxState::active, "", {}},
                              "test"));
  auto tunnel = client("box-old");
  auto answer = connect(*tunnel);
  ASSERT_FALSE(answer);
  EXPECT_NE(answer.error().message.find("certificate expired"), std::string::npos) << answer.error().message;
  expect_tunnel_refused_audit(tunnel_refusal::kCertificateExpired);
}

TEST_F(TunnelLoginTest, ASuspendedCardIsRefused) {
  ASSERT_TRUE(store_->set_card_state(alice_card_.serial, CardState::suspended, "lost", "test"));
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  auto answer = begin(*tunnel, alice_card_);
  expect_refusal(answer, refusal::kCardSuspended);
  EXPECT_NE(answer.body.value("message", "").find("suspended"), std::string::npos);
  EXPECT_EQ(last_audit("login.refused").value("user", ""), "alice");
}

TEST_F(TunnelLoginTest, ARevokedCardIsRefusedByTheStoreAndByTheCrl) {
  ASSERT_TRUE(store_->set_card_state(alice_card_.serial, CardState::revoked, "stolen", "test"));
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  expect_refusal(begin(*tunnel, alice_card_), refusal::kCardRevoked);

  // Once the CRL says so too, a new tunnel refuses it from the certificate alone.
  ASSERT_TRUE(pki_.write_crl(Pki::Authority::users, {alice_card_.serial}));
  auto second = client();
  ASSERT_TRUE(connect(*second));
  expect_refusal(begin(*second, alice_card_), refusal::kCardRevoked);
  EXPECT_EQ(last_audit("login.certificate").value("outcome", ""), "refused");
}

TEST_F(TunnelLoginTest, ACardEnrolledMoreThanFourYearsAgoIsRefused) {
  add_user("bob");
  auto old_card = issue_card("bob", clock_.now() - std::chrono::days(4 * 365 + 30));
  add_membership("bob", "census", -10, 10);
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  auto answer = begin(*tunnel, old_card);
  expect_refusal(answer, refusal::kEnrolmentExpired);
  EXPECT_NE(answer.body.value("message", "").find("expired"), std::string::npos);
}

TEST_F(TunnelLoginTest, AMembershipThatEndedOrHasNotStartedOpensNothing) {
  add_user("carol");
  auto carol = issue_card("carol", clock_.now());
  add_membership("carol", "census", -30, -1);  // ended yesterday
  add_membership("carol", "health", 1, 30);    // starts tomorrow
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  expect_refusal(begin(*tunnel, carol), refusal::kNoProjectToday);

  // Tomorrow, health is open (and census still closed).
  clock_.advance(24h);
  auto projects = begin(*tunnel, carol);
  ASSERT_EQ(projects.type, FrameType::projects) << projects.body.dump();
  ASSERT_EQ(projects.body.at("projects").size(), 1U);
  EXPECT_EQ(projects.body.at("projects")[0].at("name"), "health");
}

TEST_F(TunnelLoginTest, AnUnregisteredCardAndAProjectNotOpenAreRefused) {
  auto stranger = issue_card("alice", clock_.now(), false);
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  expect_refusal(begin(*tunnel, stranger), refusal::kCardUnknown);

  ASSERT_EQ(begin(*tunnel, alice_card_).type, FrameType::projects);
  auto answer = request(*tunnel, {FrameType::choose_project, {{"project", "secret"}}});
  ASSERT_TRUE(answer);
  expect_refusal(*answer, refusal::kProjectNotOpen);
  EXPECT_EQ(last_audit("login.choose").value("requested_project", ""), "secret");
}

TEST_F(TunnelLoginTest, ASignatureRelayedFromAnotherTunnelIsRefused) {
  // A rogue box relays the challenge of the tunnel it attacks to a victim's card on another
  // tunnel: the card signs the victim tunnel's exporter, which the broker does not accept here.
  auto attacked = client();
  auto other = client();
  ASSERT_TRUE(connect(*attacked));
  ASSERT_TRUE(connect(*other));
  ASSERT_NE(attacked->exporter(), other->exporter());
  ASSERT_EQ(begin(*attacked, alice_card_).type, FrameType::projects);
  auto challenge = request(*attacked, {FrameType::choose_project, {{"project", "census"}}});
  ASSERT_TRUE(challenge);
  const auto relayed = sign(alice_card_, challenge->body.at("challenge"), other->exporter(), "box-1", "census");
  auto answer = request(*attacked, {FrameType::login_proof, {{"signature", to_hex(relayed)}}});
  ASSERT_TRUE(answer);
  expect_refusal(*answer, refusal::kBadSignature);
  EXPECT_TRUE(store_->sessions()->empty());
}

TEST_F(TunnelLoginTest, AReplayedProofIsRefused) {
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  ASSERT_EQ(begin(*tunnel, alice_card_).type, FrameType::projects);
  auto challenge = request(*tunnel, {FrameType::choose_project, {{"project", "census"}}});
  const auto signature = sign(alice_card_, challenge->body.at("challenge"), tunnel->exporter(), "box-1", "census");
  const Frame proof{FrameType::login_proof, {{"signature", to_hex(signature)}}};
  auto first = request(*tunnel, proof);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->type, FrameType::session_ready) << first->body.dump();
  // The box leaves the desktop view (card pulled) and the tunnel is back to logins.
  const Frame leave{FrameType::desktop_close, {{"action", "disconnect"}}};
  ASSERT_TRUE(run(tunnel->send(leave)));
  auto acknowledged = run(tunnel->receive());
  ASSERT_TRUE(acknowledged);
  EXPECT_EQ(acknowledged->type, FrameType::session_ended);
  EXPECT_EQ(acknowledged->body.value("reason", ""), "disconnected");

  auto again = request(*tunnel, proof);  // no challenge outstanding
  ASSERT_TRUE(again);
  expect_refusal(*again, refusal::kBadSignature);

  ASSERT_EQ(begin(*tunnel, alice_card_).type, FrameType::projects);
  ASSERT_TRUE(request(*tunnel, {FrameType::choose_project, {{"project", "census"}}}));
  auto old_answer = request(*tunnel, proof);  // a fresh challenge, an old signature
  ASSERT_TRUE(old_answer);
  expect_refusal(*old_answer, refusal::kBadSignature);
  EXPECT_EQ(store_->sessions()->size(), 1U);
}

TEST_F(TunnelLoginTest, ASignatureForAnotherProjectIsRefused) {
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  auto answer = login(*tunnel, alice_card_, "census", "health");
  expect_refusal(answer, refusal::kBadSignature);
  EXPECT_EQ(last_audit("login.refused").value("project", ""), "census");
}

TEST_F(TunnelLoginTest, AChallengeAnsweredTooLateIsRefused) {
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  ASSERT_EQ(begin(*tunnel, alice_card_).type, FrameType::projects);
  auto challenge = request(*tunnel, {FrameType::choose_project, {{"project", "census"}}});
  const auto signature = sign(alice_card_, challenge->body.at("challenge"), tunnel->exporter(), "box-1", "census");
  clock_.advance(121s);
  auto answer = request(*tunnel, {FrameType::login_proof, {{"signature", to_hex(signature)}}});
  ASSERT_TRUE(answer);
  expect_refusal(*answer, refusal::kChallengeExpired);
}

TEST_F(TunnelLoginTest, WrongPinAndWrongFingerReportedByTheBoxAreAudited) {
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  ASSERT_TRUE(run(tunnel->send(
      {FrameType::login_event, {{"event", "pin_wrong"}, {"tries_left", 2}, {"card_serial", alice_card_.serial}}})));
  ASSERT_EQ(begin(*tunnel, alice_card_).type, FrameType::projects);
  ASSERT_TRUE(run(tunnel->send({FrameType::login_event, {{"event", "finger_wrong"}, {"tries_left", 4}}})));
  // A ping after the events: when its pong is back, the broker has handled (and audited) them.
  ASSERT_TRUE(run(tunnel->send({FrameType::ping, nlohmann::json::object()})));
  auto pong = run(tunnel->receive());
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->type, FrameType::pong);
  auto records = store_->audit_records({0, 100, "login.card_event"});
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 2U);
  EXPECT_EQ(records->at(0).event.details.at("event"), "pin_wrong");
  EXPECT_EQ(records->at(0).event.details.at("tries_left"), 2);
  EXPECT_EQ(records->at(0).event.details.at("reported_card_serial"), alice_card_.serial);
  EXPECT_EQ(records->at(0).event.outcome, "refused");
  EXPECT_EQ(records->at(1).event.details.at("event"), "finger_wrong");
  EXPECT_EQ(records->at(1).event.details.at("user"), "alice");
}

TEST_F(TunnelLoginTest, AFrameOutOfPlaceIsAProtocolErrorThatClosesTheTunnel) {
  auto tunnel = client();
  ASSERT_TRUE(connect(*tunnel));
  auto answer = request(*tunnel, {FrameType::session_ready, {{"session", 1}}});
  ASSERT_TRUE(answer);
  expect_refusal(*answer, refusal::kProtocol);
  auto after = run(tunnel->receive());
  EXPECT_FALSE(after) << "the tunnel should be closed";

  auto second = client();
  ASSERT_TRUE(connect(*second));
  auto unknown_event = request(*second, {FrameType::login_event, {{"event", "coffee_spilled"}}});
  ASSERT_TRUE(unknown_event);
  expect_refusal(*unknown_event, refusal::kProtocol);
}

TEST_F(TunnelLoginTest, ASilentTunnelIsClosedAfterTheIdleTimeoutAndPingsKeepItOpen) {
  start_server(2s);
  auto quiet = client();
  auto talkative = client();
  ASSERT_TRUE(connect(*quiet));
  ASSERT_TRUE(connect(*talkative));
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < 3500ms) {
    ASSERT_TRUE(run(talkative->send({FrameType::ping, nlohmann::json::object()})));
    auto pong = run(talkative->receive());
    ASSERT_TRUE(pong) << pong.error().describe();
    EXPECT_EQ(pong->type, FrameType::pong);
    std::this_thread::sleep_for(200ms);
    io_.run_for(300ms);
    io_.restart();
  }
  auto closed = run(quiet->receive());
  EXPECT_FALSE(closed);
  auto records = store_->audit_records({0, 100, "tunnel.close"});
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 1U);
  EXPECT_EQ(records->front().event.details.at("reason"), "idle_timeout");
}

}  // namespace
}  // namespace sdbox::broker
