#include "broker_path.hpp"

#include "desktop/desktop_link.hpp"
#include "pki/pki.hpp"
#include "store/sqlite_store.hpp"
#include "tunnel/tunnel_client.hpp"
#include "tunnel/tunnel_server.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/login_proof.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <future>
#include <optional>
#include <stdexcept>
#include <thread>

namespace sdbox::bench {

namespace asio = boost::asio;
using wire::Frame;
using wire::FrameType;

namespace {

template <class T>
T need(Result<T> result, const std::string& what) {
  if (!result) throw std::runtime_error("broker path: " + what + ": " + result.error().describe());
  return std::move(*result);
}
void need(const Status& status, const std::string& what) {
  if (!status) throw std::runtime_error("broker path: " + what + ": " + status.error().describe());
}

/// The box's login, with the card's signature made by a key in memory.
asio::awaitable<Result<Frame>> log_in(firmware::TunnelClient& tunnel, const Bytes& certificate_der, const EVP_PKEY& card_key) {
  // One co_await per statement (g++ 12), frames built before each suspension.
  auto hello = co_await tunnel.connect();
  if (!hello) co_return hello.error();
  const Frame begin{FrameType::login_begin, {{"certificate", to_hex(certificate_der)}}};
  auto projects = co_await tunnel.request(begin);
  if (!projects) co_return projects.error();
  const Frame choose{FrameType::choose_project, {{"project", "bench"}}};
  auto challenge = co_await tunnel.request(choose);
  if (!challenge) co_return challenge.error();
  Bytes nonce;
  from_hex(challenge->body.value("challenge", ""), nonce);
  auto signature = crypto::ecdsa_sign_digest(card_key, login::proof_digest(nonce, tunnel.exporter(), "box-bench", "bench"));
  if (!signature) co_return signature.error();
  const Frame proof{FrameType::login_proof, {{"signature", to_hex(*signature)}}};
  auto answer = co_await tunnel.request(proof);
  co_return answer;
}

}  // namespace

struct BrokerPath::State {
  std::filesystem::path directory;
  SystemClock clock;
  std::unique_ptr<broker::SqliteStore> store;
  broker::ProcessGatewayLauncher gateways;
  broker::EndpointDesktopProvider desktops;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<broker::TunnelServer> server;
  std::unique_ptr<firmware::TunnelClient> tunnel;
  std::shared_ptr<firmware::DesktopLink> link;
  nlohmann::json gateway;
  std::thread runner;

  explicit State(const std::string& gateway_program) : gateways(gateway_program) {}

  /// Runs `work` on the io_context thread and waits for it (rethrowing what it threw).
  void on_io(asio::awaitable<void> work_item) {
    std::promise<void> done;
    auto finished = done.get_future();
    asio::co_spawn(io, std::move(work_item), [&done](const std::exception_ptr& failure) {
      if (failure) done.set_exception(failure);
      else done.set_value();
    });
    finished.get();
  }
};

BrokerPath::BrokerPath(const std::string& gateway_program, const std::filesystem::path& directory, const Desktop& desktop)
    : state_(std::make_unique<State>(gateway_program)) {
  auto& s = *state_;
  s.directory = directory;
  std::filesystem::create_directories(directory);
  broker::Pki pki(directory / "pki");
  need(pki.init({}), "pki init");
  s.store = need(broker::SqliteStore::create({directory / "broker.db", &s.clock}), "store");
  need(s.store->add_site("bench", "bench"), "site");
  auto bundle = need(pki.issue_client_bundle(broker::Pki::Authority::boxes, "box-bench", directory / "box", std::chrono::hours(24)),
                     "box bundle");
  need(s.store->add_box({0, "box-bench", "bench", bundle.serial_hex, bundle.sha256_hex, broker::BoxState::active, "", {}}, "bench"), "box");
  need(s.store->add_user({0, "researcher", "Bench Researcher", broker::UserState::active, {}}, "bench"), "user");
  auto ca = need(crypto::certificate_from_pem_file(pki.ca_certificate(broker::Pki::Authority::users)), "users CA");
  auto ca_key = need(crypto::private_key_from_pem_file(pki.ca_key(broker::Pki::Authority::users)), "users CA key");
  auto card_key = need(crypto::generate_ec_p256(), "card key");
  crypto::CertificateRequest request;
  request.common_name = "researcher";
  request.client_auth = true;
  auto card = need(crypto::issue_certificate(request, *card_key, *ca_key, ca.get()), "card certificate");
  need(s.store->add_card({0, "researcher", crypto::certificate_serial_hex(*card), need(crypto::certificate_fingerprint(*card), "fingerprint"),
                          broker::CardState::active, "", s.clock.now()},
                         "bench"),
       "card");
  need(s.store->add_project({0, "bench", "Bench project"}, "bench"), "project");
  need(s.store->set_desktop({"bench", "127.0.0.1", desktop.port, desktop.certificate_sha256}, "bench"), "desktop");
  need(s.store->set_desktop_account({"bench", "researcher", desktop.user, desktop.password}, "bench"), "desktop account");
  const broker::Day today = std::chrono::floor<std::chrono::days>(s.clock.now());
  need(s.store->add_membership({0, "researcher", "bench", today - std::chrono::days(1), today + std::chrono::days(1)}, "bench"),
       "membership");

  broker::TunnelServer::Config config;
  config.executor = s.io.get_executor();
  config.store = s.store.get();
  config.clock = &s.clock;
  config.pki_directory = pki.directory();
  config.listen = {asio::ip::make_address("127.0.0.1"), 0};
  config.gateways = &s.gateways;
  config.desktops = &s.desktops;
  s.server = need(broker::TunnelServer::create(config), "tunnel server");
  s.server->start();
  s.tunnel = need(firmware::TunnelClient::create({s.io.get_executor(),
                                                  {"127.0.0.1", s.server->local_endpoint().port(), "localhost"},
                                                  firmware::BoxIdentity::from_bundle(directory / "box"),
                                                  std::chrono::milliseconds(10000)}),
                  "tunnel client");
  s.runner = std::thread([&s] { s.io.run(); });

  const Bytes certificate_der = need(crypto::certificate_to_der(*card), "card DER");
  std::optional<Result<Frame>> ready;
  s.on_io([&]() -> asio::awaitable<void> {
    ready.emplace(co_await log_in(*s.tunnel, certificate_der, *card_key));
  }());
  auto frame = need(std::move(*ready), "login");
  if (frame.type != FrameType::session_ready) throw std::runtime_error("broker path: login refused: " + frame.body.dump());
  s.gateway = frame.body.at("gateway");
  s.link = need(firmware::DesktopLink::create({s.io.get_executor(), s.tunnel.get(), directory / "box.sock"}), "desktop link");
  asio::co_spawn(s.io, [link = s.link]() -> asio::awaitable<void> { (void)co_await link->run(); }, asio::detached);
}

BrokerPath::~BrokerPath() {
  auto& s = *state_;
  asio::post(s.io, [&s] {
    if (s.link) s.link->close("disconnect");
    s.server->stop();
    s.tunnel->close();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the gateway is told and stops
  s.work.reset();
  s.io.stop();
  if (s.runner.joinable()) s.runner.join();
}

rdp::ViewerConfig BrokerPath::box_config() const {
  rdp::ViewerConfig config;
  config.host = (state_->directory / "box.sock").string();
  config.user = state_->gateway.value("user", "");
  config.password = state_->gateway.value("password", "");
  config.pinned_certificate_sha256 = state_->gateway.value("certificate_sha256", "");
  config.width = 1280;
  config.height = 800;
  config.connect_timeout = std::chrono::milliseconds(10000);
  return config;
}

}  // namespace sdbox::bench
