#pragma once
// A whole broker for the admin and ops API's tests: its store, tunnel server (with real gateway
// processes and the test desktop) and ops plane as sdbox-broker wires them, staff certificates
// made in the test, boxes that log in over loopback, and HTTPS clients of the API.
#include "api/ops_plane.hpp"
#include "desktop/desktop_link.hpp"
#include "gateway/gateway_launcher.hpp"
#include "pki/pki.hpp"
#include "store/sqlite_store.hpp"
#include "tunnel/tunnel_client.hpp"
#include "tunnel/tunnel_server.hpp"

#include "broker_client.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/login_proof.hpp"
#include "sdbox/rdp/viewer.hpp"

#include "fake_clock.hpp"
#include "temp_dir.hpp"
#include "test_desktop_process.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <list>
#include <optional>
#include <regex>

namespace sdbox::broker::api_testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using firmware::DesktopLink;
using firmware::TunnelClient;
using wire::Frame;
using wire::FrameType;
using Json = nlohmann::json;
using namespace std::chrono_literals;

/// One box: its tunnel and the view the broker opened for it.
struct Box {
  std::string name;
  std::unique_ptr<TunnelClient> tunnel;
  std::shared_ptr<DesktopLink> link;
  std::optional<Result<DesktopLink::Ended>> ended;
  Json ready;
};

/// An HTTP answer read as raw text (headers and body), for what is not JSON.
struct RawAnswer {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
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
    ASSERT_TRUE(store_->add_user({0, "alice", "Alice Example", UserState::active, {}}, "test"));
    card_ = issue_card("alice");
    ASSERT_TRUE(store_->add_project({0, "census", "Census microdata"}, "test"));
    ASSERT_TRUE(store_->set_desktop(
        {"census", "127.0.0.1", desktop_.port(), desktop_.certificate_sha256(), "unix:" + desktop_.control_path().string()}, "test"));
    ASSERT_TRUE(store_->set_desktop_account({"census", "alice", "alice", "alice desktop pw"}, "test"));
    const Day today = std::chrono::floor<std::chrono::days>(clock_.now());
    ASSERT_TRUE(store_->add_membership({0, "alice", "census", today - std::chrono::days(1), today + std::chrono::days(1)}, "test"));
    for (const auto& [name, role] : {std::pair{"root", StaffRole::admin}, std::pair{"olga", StaffRole::ops},
                                     std::pair{"audrey", StaffRole::auditor}}) {
      auto bundle = pki_.issue_client_bundle(Pki::Authority::staff, name, dir_ / "staff" / name, 24h);
      ASSERT_TRUE(bundle);
      ASSERT_TRUE(store_->add_staff({0, name, role, bundle->serial_hex, bundle->sha256_hex, StaffState::active, {}}, "test"));
    }
    // From the staff CA but never registered.
    ASSERT_TRUE(pki_.issue_client_bundle(Pki::Authority::staff, "mallory", dir_ / "staff" / "mallory", 24h));

    TunnelServer::Config config;
    config.executor = io_.get_executor();
    config.store = store_.get();
    config.clock = &clock_;
    config.pki_directory = pki_.directory();
    config.listen = {asio::ip::make_address("127.0.0.1"), 0};
    config.gateways = &launcher_;
    config.desktops = &desktops_;
    OpsPlane::count_tunnel_events(config, metrics_);
    auto server = TunnelServer::create(config);
    ASSERT_TRUE(server) << server.error().describe();
    tunnels_ = std::move(*server);
    OpsPlane::Config ops_config{io_.get_executor(), store_.get(), tunnels_.get(), &desktops_, &clock_, pki_.directory(),
                                {asio::ip::make_address("127.0.0.1"), 0}, &registry_, &metrics_};
    ops_config.api_handshake_timeout = api_handshake_timeout_;
    ops_config.api_idle_timeout = api_idle_timeout_;
    auto ops = OpsPlane::create(std::move(ops_config));
    ASSERT_TRUE(ops) << ops.error().describe();
    ops_ = std::move(*ops);
    tunnels_->start();
    ops_->start();
  }

  void TearDown() override {
    for (auto& box : boxes_) box.tunnel->close();
    ops_->stop();
    tunnels_->stop();
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
    card_serial_ = crypto::certificate_serial_hex(**certificate);
    EXPECT_TRUE(store_->add_card({0, login, card_serial_, *crypto::certificate_fingerprint(**certificate), CardState::active,
                                  "", clock_.now()},
                                 "test"));
    return {std::move(*key), *crypto::certificate_to_der(**certificate)};
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds patience = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(2ms);
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

  std::string api_url() const { return fmt::format("https://127.0.0.1:{}", ops_->api().local_endpoint().port()); }

  /// A request by `who` (a bundle under staff/, or any directory) made by sdboxctl's client on
  /// its own thread while this one runs the broker.
  Result<ctl::BrokerClient::Response> request_from(const std::filesystem::path& bundle, const std::string& method,
                                                   const std::string& target, const std::optional<Json>& body = std::nullopt) {
    auto client = ctl::BrokerClient::create({api_url(), bundle, 10s});
    if (!client) return client.error();
    auto answer = std::async(std::launch::async, [&] { return client->request(method, target, body); });
    EXPECT_TRUE(run_until([&] { return answer.wait_for(0ms) == std::future_status::ready; }, 15s));
    return answer.get();
  }

  ctl::BrokerClient::Response call(const std::string& who, const std::string& method, const std::string& target,
                                   const std::optional<Json>& body = std::nullopt) {
    auto answer = request_from(dir_ / "staff" / who, method, target, body);
    EXPECT_TRUE(answer) << answer.error().describe();
    return answer ? *answer : ctl::BrokerClient::Response{};
  }

  /// A TLS client context with the certificate and key of staff member `who` (made in SetUp),
  /// trusting the broker's CA: for the raw clients of the tests.
  asio::ssl::context staff_tls(const std::string& who) {
    const auto bundle = dir_ / "staff" / who;
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.load_verify_file((bundle / "broker-ca.crt").string());
    tls.use_certificate_chain_file((bundle / "client.crt").string());
    tls.use_private_key_file((bundle / "client.key").string(), asio::ssl::context::pem);
    tls.set_verify_mode(asio::ssl::verify_peer);
    return tls;
  }

  /// The same over a raw TLS connection, with the headers given, for what sdboxctl never sends.
  RawAnswer raw(const std::string& who, http::verb method, const std::string& target, const std::string& body = {},
                const std::map<std::string, std::string>& headers = {{"Content-Type", "application/json"}}) {
    const auto port = ops_->api().local_endpoint().port();
    auto tls = staff_tls(who);
    auto exchange = std::async(std::launch::async, [&]() -> RawAnswer {
      asio::io_context client_io;
      asio::ssl::stream<asio::ip::tcp::socket> stream(client_io, tls);
      stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
      stream.handshake(asio::ssl::stream_base::client);
      http::request<http::string_body> request{method, target, 11};
      request.set(http::field::host, fmt::format("127.0.0.1:{}", port));
      for (const auto& [name, value] : headers) request.set(name, value);
      request.body() = body;
      request.prepare_payload();
      if (body.size() > std::size_t{64} * 1024) {
        // The broker answers 413 from the headers and closes: the body is never sent.
        http::request_serializer<http::string_body> serializer(request);
        http::write_header(stream, serializer);
      } else {
        http::write(stream, request);
      }
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      boost::system::error_code error;
      http::read(stream, buffer, parser, error);
      RawAnswer answer;
      answer.status = static_cast<int>(parser.get().result_int());
      for (const auto& field : parser.get()) answer.headers[std::string(field.name_string())] = std::string(field.value());
      answer.body = parser.get().body();
      return answer;
    });
    EXPECT_TRUE(run_until([&] { return exchange.wait_for(0ms) == std::future_status::ready; }, 15s));
    return exchange.get();
  }

  /// box-N opens its tunnel.
  Box& connect(const std::string& box_name) {
    Box& box = boxes_.emplace_back(Box{box_name, nullptr, nullptr, std::nullopt, {}});
    auto created = TunnelClient::create({io_.get_executor(),
                                         {"127.0.0.1", tunnels_->local_endpoint().port(), "localhost"},
                                         firmware::BoxIdentity::from_bundle(dir_ / box_name), 5000ms});
    EXPECT_TRUE(created);
    box.tunnel = std::move(*created);
    EXPECT_TRUE(run(box.tunnel->connect()));
    return box;
  }

  /// box-N connects and logs alice in to census; the broker opens a view (a gateway) for it.
  Box& login(const std::string& box_name) {
    Box& box = connect(box_name);
    auto& [key, certificate] = card_;
    const Frame begin{FrameType::login_begin, {{"certificate", to_hex(certificate)}}};
    auto projects = run(box.tunnel->request(begin));
    EXPECT_TRUE(projects && projects->type == FrameType::projects);
    const Frame choose{FrameType::choose_project, {{"project", "census"}}};
    auto challenge = run(box.tunnel->request(choose));
    Bytes nonce;
    EXPECT_TRUE(from_hex(challenge->body.value("challenge", ""), nonce));
    auto signature = crypto::ecdsa_sign_digest(*key, login::proof_digest(nonce, box.tunnel->exporter(), box.name, "census"));
    const Frame proof{FrameType::login_proof, {{"signature", to_hex(*signature)}}};
    auto ready = run(box.tunnel->request(proof));
    EXPECT_TRUE(ready && ready->type == FrameType::session_ready) << (ready ? ready->body.dump() : ready.error().describe());
    if (ready) box.ready = ready->body;
    auto link = DesktopLink::create({io_.get_executor(), box.tunnel.get(), dir_ / (box.name + ".sock")});
    EXPECT_TRUE(link);
    box.link = *link;
    asio::co_spawn(io_, [&box, link = *link]() -> asio::awaitable<void> { box.ended.emplace(co_await link->run()); },
                   asio::detached);
    EXPECT_TRUE(run_until([&] { return tunnels_->views().size() == 1; }));
    return box;
  }

  /// The box's RDP client connects through its view (on its own thread, as the box runs it), so
  /// the member has a session on the desktop.
  std::unique_ptr<rdp::Viewer> open_view(const Box& box) {
    rdp::ViewerConfig config;
    config.host = (dir_ / (box.name + ".sock")).string();
    config.user = box.ready.at("gateway").at("user");
    config.password = box.ready.at("gateway").at("password");
    config.pinned_certificate_sha256 = box.ready.at("gateway").at("certificate_sha256");
    config.width = 800;
    config.height = 600;
    config.connect_timeout = 8s;
    auto connecting = std::async(std::launch::async, [config] { return rdp::Viewer::connect(config); });
    EXPECT_TRUE(run_until([&] { return connecting.wait_for(0ms) == std::future_status::ready; }, 15s));
    auto viewer = connecting.get();
    EXPECT_TRUE(viewer) << viewer.error().describe() << desktop_.log();
    return viewer ? std::move(*viewer) : nullptr;
  }

  std::int64_t session_id() {
    auto sessions = store_->sessions();
    return sessions && !sessions->empty() ? sessions->back().id : 0;
  }

  std::vector<AuditRecord> audits(const std::string& action) {
    auto records = store_->audit_records({0, 100000, action});
    EXPECT_TRUE(records);
    return records ? *records : std::vector<AuditRecord>{};
  }

  /// Runs `change` and measures until the box's view has ended (its DesktopLink saw why).
  std::chrono::duration<double, std::milli> time_until_view_ends(Box& box, const std::function<void()>& change) {
    const auto start = std::chrono::steady_clock::now();
    change();
    EXPECT_TRUE(run_until([&] { return box.ended.has_value(); }, 5s));
    return std::chrono::steady_clock::now() - start;
  }

  std::chrono::seconds api_handshake_timeout_{10};
  std::chrono::seconds api_idle_timeout_{60};
  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::TestDesktop desktop_{{"alice:alice desktop pw"}};
  Pki pki_{dir_ / "pki"};
  std::unique_ptr<SqliteStore> store_;
  asio::io_context io_;
  ProcessGatewayLauncher launcher_{SDBOX_GATEWAY_PROGRAM};
  EndpointDesktopProvider desktops_;
  metrics::Registry registry_;
  metrics::BrokerMetrics metrics_{registry_};
  std::unique_ptr<TunnelServer> tunnels_;
  std::unique_ptr<OpsPlane> ops_;
  std::pair<crypto::PKey, Bytes> card_;
  std::string card_serial_;
  std::list<Box> boxes_;
};

}  // namespace sdbox::broker::api_testing
