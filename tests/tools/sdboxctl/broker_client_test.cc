#include "broker_client.hpp"

#include "admin_verbs.hpp"
#include "pki/pki.hpp"
#include "store/store.hpp"
#include "temp_dir.hpp"

#include "sdbox/common/crypto.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace sdbox::ctl {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;
using Authority = broker::Pki::Authority;
using sdbox::testing::TempDir;
using namespace std::chrono_literals;

static_assert(api_failure::not_found == static_cast<std::int64_t>(broker::StoreFailure::not_found));
static_assert(api_failure::conflict == static_cast<std::int64_t>(broker::StoreFailure::conflict));
static_assert(api_failure::invalid == static_cast<std::int64_t>(broker::StoreFailure::invalid));
static_assert(api_failure::storage == static_cast<std::int64_t>(broker::StoreFailure::storage));

using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

HttpResponse json_response(http::status status, const Json& body) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = body.dump();
  return response;
}

HttpResponse raw_response(http::status status, const std::string& content_type, std::string body) {
  HttpResponse response{status, 11};
  if (!content_type.empty()) response.set(http::field::content_type, content_type);
  response.body() = std::move(body);
  return response;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// What the server saw of one request.
struct Received {
  std::string method;
  std::string target;
  std::string host;
  std::string content_type;
  std::string accept;
  std::string user_agent;
  std::string body;
  std::string client_common_name;
  std::string server_name;  ///< SNI, empty when none was sent
};

/// A one-connection-at-a-time HTTPS server on 127.0.0.1 that requires a client certificate from
/// `client_ca`, like the broker's API port.
class TestServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  enum class Mode {
    answer,              ///< handshake, read the request, answer with the handler
    silent,              ///< accept the TCP connection and never say anything
    mute_after_request,  ///< handshake and read the request, then never answer
  };
  struct Identity {
    std::filesystem::path certificate;
    std::filesystem::path key;
    std::filesystem::path client_ca;
  };

  TestServer(const Identity& identity, Handler handler, Mode mode = Mode::answer, int max_tls_version = 0)
      : handler_(std::move(handler)), mode_(mode), tls_(ssl::context::tls_server),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    tls_.use_certificate_chain_file(identity.certificate.string());
    tls_.use_private_key_file(identity.key.string(), ssl::context::pem);
    tls_.load_verify_file(identity.client_ca.string());
    tls_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    if (max_tls_version != 0) SSL_CTX_set_max_proto_version(tls_.native_handle(), max_tls_version);
    thread_ = std::thread([this] { serve(); });
  }

  ~TestServer() {
    stopping_ = true;
    boost::system::error_code ignored;
    tcp::socket wake(io_);
    wake.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  [[nodiscard]] std::string url() const { return "https://127.0.0.1:" + std::to_string(port()); }
  [[nodiscard]] std::vector<Received> received() const {
    const std::lock_guard lock(mutex_);
    return received_;
  }
  [[nodiscard]] int failed_handshakes() const { return failed_handshakes_; }

 private:
  void serve() {
    std::vector<std::unique_ptr<ssl::stream<tcp::socket>>> held;
    for (;;) {
      tcp::socket socket(io_);
      boost::system::error_code error;
      acceptor_.accept(socket, error);
      if (stopping_) return;
      if (error) continue;
      auto stream = std::make_unique<ssl::stream<tcp::socket>>(std::move(socket), tls_);
      if (mode_ == Mode::silent) {
        held.push_back(std::move(stream));
        continue;
      }
      if (handle(*stream)) held.push_back(std::move(stream));
    }
  }

  /// True when the connection must be kept open (never answered).
  bool handle(ssl::stream<tcp::socket>& stream) {
    boost::system::error_code error;
    stream.handshake(ssl::stream_base::server, error);
    if (error) {
      ++failed_handshakes_;
      return false;
    }
    boost::beast::flat_buffer buffer;
    HttpRequest request;
    http::read(stream, buffer, request, error);
    if (error) return false;
    Received seen;
    seen.method = std::string(request.method_string());
    seen.target = std::string(request.target());
    seen.host = std::string(request[http::field::host]);
    seen.content_type = std::string(request[http::field::content_type]);
    seen.accept = std::string(request[http::field::accept]);
    seen.user_agent = std::string(request[http::field::user_agent]);
    seen.body = request.body();
    if (X509* peer = SSL_get0_peer_certificate(stream.native_handle()); peer != nullptr) {
      seen.client_common_name = crypto::certificate_common_name(*peer);
    }
    if (const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name); name != nullptr) {
      seen.server_name = name;
    }
    {
      const std::lock_guard lock(mutex_);
      received_.push_back(seen);
    }
    if (mode_ == Mode::mute_after_request) return true;
    HttpResponse response = handler_(request);
    response.keep_alive(false);
    response.prepare_payload();
    http::write(stream, response, error);
    return false;
  }

  Handler handler_;
  Mode mode_;
  asio::io_context io_;
  ssl::context tls_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> failed_handshakes_{0};
  mutable std::mutex mutex_;
  std::vector<Received> received_;
  std::thread thread_;
};

/// A broker PKI (`sdboxctl pki init`) and a staff bundle for "alice" from its staff CA.
struct BrokerPki {
  explicit BrokerPki(const std::filesystem::path& directory, std::vector<std::string> server_names = {"DNS:localhost",
                                                                                                       "IP:127.0.0.1"})
      : pki(directory / "pki"), staff_bundle(directory / "alice") {
    broker::Pki::InitOptions options;
    options.server_names = std::move(server_names);
    auto initialised = pki.init(options);
    EXPECT_TRUE(initialised) << initialised.error().describe();
    auto issued = pki.issue_client_bundle(Authority::staff, "alice", staff_bundle, 24h);
    EXPECT_TRUE(issued) << issued.error().describe();
  }
  [[nodiscard]] TestServer::Identity server() const {
    return {pki.server_certificate(), pki.server_key(), pki.ca_certificate(Authority::staff)};
  }
  broker::Pki pki;
  std::filesystem::path staff_bundle;
};

class BrokerClientTest : public ::testing::Test {
 protected:
  BrokerClientTest() : broker_(dir_.path() / "broker") {}

  Result<BrokerClient> client(const std::string& url, std::chrono::seconds timeout = 10s) {
    return client(url, broker_.staff_bundle, timeout);
  }
  static Result<BrokerClient> client(const std::string& url, const std::filesystem::path& bundle,
                                     std::chrono::seconds timeout = 10s) {
    return BrokerClient::create({url, bundle, timeout});
  }

  TempDir dir_;
  BrokerPki broker_;
};

HttpResponse whoami(const HttpRequest& /*request*/) {
  return json_response(http::status::ok, {{"name", "alice"}, {"role", "admin"}});
}

TEST_F(BrokerClientTest, GetAnswersJsonWithTheStaffCertificateAndTheRightHeaders) {
  const TestServer server(broker_.server(), whoami);
  auto made = client(server.url());
  ASSERT_TRUE(made) << made.error().describe();
  EXPECT_EQ(made->origin(), server.url());

  auto answer = made->request("GET", "/api/v1/whoami", std::nullopt);
  ASSERT_TRUE(answer) << answer.error().describe();
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, (Json{{"name", "alice"}, {"role", "admin"}}));

  const auto seen = server.received();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/api/v1/whoami");
  EXPECT_EQ(seen[0].host, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].accept, "application/json");
  EXPECT_EQ(seen[0].user_agent, "sdboxctl");
  EXPECT_EQ(seen[0].content_type, "") << "no body, no Content-Type";
  EXPECT_EQ(seen[0].client_common_name, "alice") << "the staff certificate was presented";
  EXPECT_EQ(seen[0].server_name, "") << "no SNI for an IP address";
}

TEST_F(BrokerClientTest, HostNamesAreSentAsSniAndChecked) {
  const TestServer server(broker_.server(), whoami);
  const std::string url = "https://LocalHost:" + std::to_string(server.port()) + "/";
  auto made = client(url);
  ASSERT_TRUE(made) << made.error().describe();
  EXPECT_EQ(made->origin(), "https://localhost:" + std::to_string(server.port()));
  auto body = made->call("GET", "/api/v1/whoami");
  ASSERT_TRUE(body) << body.error().describe();
  EXPECT_EQ((*body)["name"], "alice");
  const auto seen = server.received();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].server_name, "localhost");
  EXPECT_EQ(seen[0].host, "localhost:" + std::to_string(server.port()));
}

TEST_F(BrokerClientTest, PostBodyArrivesIntactAsJson) {
  const TestServer server(broker_.server(), [](const HttpRequest& request) {
    if (request.target() == "/api/v1/nothing") return raw_response(http::status::no_content, "", "");
    auto sent = Json::parse(request.body());
    return json_response(http::status::created, {{"echo", sent}});
  });
  auto made = client(server.url());
  ASSERT_TRUE(made) << made.error().describe();
  const Json site = {{"name", "lab-\xc3\xbc\xe2\x82\xac"}, {"note", "quote \" and \\ and\nnewline"}, {"n", 42}};

  auto answer = made->request("POST", "/api/v1/sites", site);
  ASSERT_TRUE(answer) << answer.error().describe();
  EXPECT_EQ(answer->status, 201);
  EXPECT_EQ(answer->body["echo"], site);
  auto seen = server.received();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].content_type, "application/json");
  EXPECT_EQ(Json::parse(seen[0].body), site);

  auto nothing = made->request("PUT", "/api/v1/nothing", Json::object());
  ASSERT_TRUE(nothing) << nothing.error().describe();
  EXPECT_EQ(nothing->status, 204);
  EXPECT_TRUE(nothing->body.is_null());
  seen = server.received();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[1].method, "PUT");
  EXPECT_EQ(seen[1].body, "{}");
  EXPECT_EQ(seen[1].content_type, "application/json");
  auto success = expect_success(std::move(nothing));
  ASSERT_TRUE(success);
  EXPECT_TRUE(success->is_null());
}

TEST_F(BrokerClientTest, ApiErrorsBecomeErrorsTheExitStatusesUnderstand) {
  struct Case {
    int status;
    std::string reason;
    ErrorCategory category;
    std::int64_t code;
    int exit_status;
  };
  const std::vector<Case> cases = {
      {400, "invalid_request", ErrorCategory::usage, 400, exit_status::usage},
      {403, "forbidden", ErrorCategory::broker, api_failure::invalid, exit_status::refused},
      {403, "unknown_staff", ErrorCategory::broker, api_failure::invalid, exit_status::refused},
      {404, "not_found", ErrorCategory::broker, api_failure::not_found, exit_status::refused},
      {405, "method_not_allowed", ErrorCategory::usage, 405, exit_status::usage},
      {409, "conflict", ErrorCategory::broker, api_failure::conflict, exit_status::refused},
      {413, "too_large", ErrorCategory::usage, 413, exit_status::usage},
      {415, "unsupported_media_type", ErrorCategory::usage, 415, exit_status::usage},
      {500, "storage", ErrorCategory::broker, api_failure::storage, exit_status::failed},
      {503, "unavailable", ErrorCategory::io, 503, exit_status::failed},
  };
  const TestServer server(broker_.server(), [](const HttpRequest& request) {
    const int status = std::stoi(std::string(request.target().substr(1, 3)));
    const std::string reason(request.target().substr(5));
    return json_response(static_cast<http::status>(status),
                         {{"error", {{"reason", reason}, {"message", "sentence for " + reason}}}});
  });
  auto made = client(server.url());
  ASSERT_TRUE(made) << made.error().describe();
  for (const auto& expected : cases) {
    SCOPED_TRACE(expected.status);
    auto answer = made->call("POST", "/" + std::to_string(expected.status) + "/" + expected.reason, Json::object());
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().category, expected.category);
    EXPECT_EQ(answer.error().code, expected.code);
    EXPECT_EQ(answer.error().message, "sentence for " + expected.reason);
    EXPECT_EQ(exit_status_for(answer.error()), expected.exit_status);
  }

  // An error body without a message still says what happened.
  auto bare = expect_success(BrokerClient::Response{404, Json::object()});
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().message, "the broker answered 404");
  auto reason_only = expect_success(BrokerClient::Response{409, {{"error", {{"reason", "conflict"}}}}});
  ASSERT_FALSE(reason_only);
  EXPECT_EQ(reason_only.error().message, "the broker answered 409 conflict");
  // A 500 that is not the store is still a machine failure, not a refusal.
  auto other = expect_success(BrokerClient::Response{500, {{"error", {{"reason", "bug"}, {"message", "oops"}}}}});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().category, ErrorCategory::io);
  EXPECT_EQ(exit_status_for(other.error()), exit_status::failed);
  // A failure to get an answer at all passes through unchanged.
  auto passed = expect_success(make_error(ErrorCategory::crypto, "no"));
  ASSERT_FALSE(passed);
  EXPECT_EQ(passed.error().category, ErrorCategory::crypto);
}

TEST_F(BrokerClientTest, AServerCertificateFromAnotherCaIsRefused) {
  const BrokerPki impostor(dir_.path() / "impostor");
  TestServer::Identity identity = impostor.server();
  identity.client_ca = broker_.pki.ca_certificate(Authority::staff);  // it would even accept alice
  const TestServer server(identity, whoami);
  auto made = client(server.url());
  ASSERT_TRUE(made) << made.error().describe();
  auto answer = made->request("GET", "/api/v1/whoami", std::nullopt);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().category, ErrorCategory::crypto);
  EXPECT_NE(answer.error().message.find("the broker's certificate is not from " +
                                        (broker_.staff_bundle / "broker-ca.crt").string()),
            std::string::npos)
      << answer.error().message;
  EXPECT_EQ(exit_status_for(answer.error()), exit_status::failed);
  EXPECT_TRUE(server.received().empty()) << "nothing was sent to the impostor";
}

TEST_F(BrokerClientTest, AServerCertificateThatDoesNotNameTheHostIsRefused) {
  // Issued by the right CA (the boxes CA, as broker::Pki does), for other names.
  auto ca_key = crypto::private_key_from_pem_file(broker_.pki.ca_key(Authority::boxes));
  auto ca_certificate = crypto::certificate_from_pem_file(broker_.pki.ca_certificate(Authority::boxes));
  auto key = crypto::generate_ec_p256();
  ASSERT_TRUE(ca_key && ca_certificate && key);
  crypto::CertificateRequest request;
  request.common_name = "127.0.0.1";  // a CN is not a name to check: only subjectAltName counts
  request.server_auth = true;
  request.alt_names = {"DNS:broker.example", "IP:127.0.0.2"};
  auto certificate = crypto::issue_certificate(request, **key, **ca_key, ca_certificate->get());
  ASSERT_TRUE(certificate) << certificate.error().describe();
  const auto certificate_file = dir_.path() / "other-name.crt";
  const auto key_file = dir_.path() / "other-name.key";
  ASSERT_TRUE(crypto::write_certificate_pem(**certificate, certificate_file));
  ASSERT_TRUE(crypto::write_private_key_pem(**key, key_file));
  const TestServer server({certificate_file, key_file, broker_.pki.ca_certificate(Authority::staff)}, whoami);

  for (const std::string host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    auto made = client("https://" + host + ":" + std::to_string(server.port()));
    ASSERT_TRUE(made) << made.error().describe();
    auto answer = made->request("GET", "/api/v1/whoami", std::nullopt);
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().category, ErrorCategory::crypto);
    EXPECT_NE(answer.error().message.find("the broker's certificate does not name " + host), std::string::npos)
        << answer.error().message;
  }
  EXPECT_TRUE(server.received().empty());
}

TEST_F(BrokerClientTest, TheBrokerRefusingTheStaffCertificateIsSaidSo) {
  // A staff certificate from another broker's staff CA, with this broker's CA to trust.
  const BrokerPki other(dir_.path() / "other");
  const auto bundle = dir_.path() / "stranger";
  std::filesystem::create_directories(bundle);
  std::filesystem::copy_file(other.staff_bundle / "client.crt", bundle / "client.crt");
  std::filesystem::copy_file(other.staff_bundle / "client.key", bundle / "client.key");
  std::filesystem::copy_file(broker_.staff_bundle / "broker-ca.crt", bundle / "broker-ca.crt");

  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    const TestServer server(broker_.server(), whoami, TestServer::Mode::answer, version);
    auto made = client(server.url(), bundle);
    ASSERT_TRUE(made) << made.error().describe();
    auto answer = made->request("GET", "/api/v1/whoami", std::nullopt);
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().category, ErrorCategory::crypto) << answer.error().describe();
    EXPECT_NE(answer.error().message.find("the broker refused this staff certificate (TLS alert"), std::string::npos)
        << answer.error().message;
    EXPECT_TRUE(server.received().empty());
  }
}

TEST_F(BrokerClientTest, StaffBundleProblemsNameTheFile) {
  const auto url = std::string("https://127.0.0.1:8443");
  const auto& good = broker_.staff_bundle;
  const BrokerPki other(dir_.path() / "other");
  struct Case {
    std::string name;
    std::string file;  ///< the file to damage, and to find in the message
    std::function<void(const std::filesystem::path&)> damage;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"missing key", "client.key", [](const auto& path) { std::filesystem::remove(path); }, "is missing"},
      {"missing certificate", "client.crt", [](const auto& path) { std::filesystem::remove(path); }, "is missing"},
      {"missing CA", "broker-ca.crt", [](const auto& path) { std::filesystem::remove(path); }, "is missing"},
      {"garbage certificate", "client.crt", [](const auto& path) { write_text(path, "hello\n"); },
       "is not a PEM certificate"},
      {"truncated certificate", "client.crt",
       [](const auto& path) {
         const std::string pem = read_text(path);
         std::string damaged = pem.substr(0, 80) + "\n-----END CERTIFICATE-----\n";
         write_text(path, damaged);
       },
       "is not a PEM certificate"},
      {"damaged second CA", "broker-ca.crt",
       [](const auto& path) {
         write_text(path, read_text(path) + "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n");
       },
       "damaged"},
      {"key as the CA", "broker-ca.crt",
       [&](const auto& path) { std::filesystem::copy_file(good / "client.key", path,
                                                          std::filesystem::copy_options::overwrite_existing); },
       "is not a PEM certificate"},
      {"certificate as the key", "client.key",
       [&](const auto& path) { std::filesystem::copy_file(good / "client.crt", path,
                                                          std::filesystem::copy_options::overwrite_existing); },
       "is not an unencrypted PEM private key"},
      {"someone else's key", "client.key",
       [&](const auto& path) { std::filesystem::copy_file(other.staff_bundle / "client.key", path,
                                                          std::filesystem::copy_options::overwrite_existing); },
       "does not belong to"},
      {"a folder instead of the key", "client.key",
       [](const auto& path) {
         std::filesystem::remove(path);
         std::filesystem::create_directory(path);
       },
       "is not a file"},
  };
  int index = 0;
  for (const auto& damage : cases) {
    SCOPED_TRACE(damage.name);
    const auto bundle = dir_.path() / ("bundle" + std::to_string(index++));
    std::filesystem::copy(good, bundle);
    damage.damage(bundle / damage.file);
    auto made = client(url, bundle);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error().category, ErrorCategory::config);
    EXPECT_NE(made.error().message.find((bundle / damage.file).string()), std::string::npos) << made.error().message;
    EXPECT_NE(made.error().message.find(damage.says), std::string::npos) << made.error().message;
    EXPECT_EQ(exit_status_for(made.error()), exit_status::failed);
  }

  auto no_folder = client(url, dir_.path() / "nowhere");
  ASSERT_FALSE(no_folder);
  EXPECT_EQ(no_folder.error().category, ErrorCategory::config);
  EXPECT_NE(no_folder.error().message.find((dir_.path() / "nowhere").string()), std::string::npos);

  if (geteuid() != 0) {  // root reads anything
    const auto bundle = dir_.path() / "unreadable";
    std::filesystem::copy(good, bundle);
    std::filesystem::permissions(bundle / "client.key", std::filesystem::perms::none);
    auto made = client(url, bundle);
    ASSERT_FALSE(made);
    EXPECT_NE(made.error().message.find("cannot read " + (bundle / "client.key").string()), std::string::npos)
        << made.error().message;
  }

  auto fine = client(url, good);
  EXPECT_TRUE(fine) << "the untouched bundle loads";
}

TEST_F(BrokerClientTest, AServerThatNeverAnswersHitsTheDeadline) {
  for (const auto mode : {TestServer::Mode::silent, TestServer::Mode::mute_after_request}) {
    SCOPED_TRACE(static_cast<int>(mode));
    const TestServer server(broker_.server(), whoami, mode);
    auto made = client(server.url(), 1s);
    ASSERT_TRUE(made) << made.error().describe();
    const auto started = std::chrono::steady_clock::now();
    auto answer = made->request("GET", "/api/v1/whoami", std::nullopt);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().category, ErrorCategory::io);
    EXPECT_EQ(answer.error().message, "the broker at " + server.url() + " did not answer within 1 s");
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 5s);
    if (mode == TestServer::Mode::mute_after_request) {
      EXPECT_EQ(server.received().size(), 1U);
    }
  }
}

TEST_F(BrokerClientTest, AnAnswerThatIsNotJsonIsAnError) {
  const TestServer server(broker_.server(), [](const HttpRequest& request) {
    if (request.target() == "/html") return raw_response(http::status::ok, "text/html", "<html>hello</html>");
    if (request.target() == "/empty") return raw_response(http::status::ok, "application/json", "");
    if (request.target() == "/proxy") return raw_response(http::status::bad_gateway, "text/html", "<h1>502</h1>");
    return raw_response(http::status::ok, "application/json", "{\"truncated\": ");
  });
  auto made = client(server.url());
  ASSERT_TRUE(made) << made.error().describe();
  for (const std::string target : {"/html", "/empty", "/proxy", "/broken"}) {
    SCOPED_TRACE(target);
    auto answer = made->request("GET", target, std::nullopt);
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().category, ErrorCategory::io);
    EXPECT_NE(answer.error().message.find("with a body that is not JSON"), std::string::npos) << answer.error().message;
    EXPECT_EQ(exit_status_for(answer.error()), exit_status::failed);
  }
}

TEST_F(BrokerClientTest, AnswersOver16MiBAreRefused) {
  const TestServer server(broker_.server(), [](const HttpRequest& request) {
    const std::size_t size = BrokerClient::max_response_bytes + (request.target() == "/over" ? 1 : 0);
    std::string body(size, 'a');
    body.front() = '"';
    body.back() = '"';
    return raw_response(http::status::ok, "application/json", std::move(body));
  });
  auto made = client(server.url());
  ASSERT_TRUE(made) << made.error().describe();
  auto at_limit = made->request("GET", "/at", std::nullopt);
  ASSERT_TRUE(at_limit) << at_limit.error().describe();
  EXPECT_EQ(at_limit->body.get<std::string>().size(), BrokerClient::max_response_bytes - 2);
  auto over = made->request("GET", "/over", std::nullopt);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().category, ErrorCategory::io);
  EXPECT_NE(over.error().message.find("over 16 MiB"), std::string::npos) << over.error().message;
}

TEST_F(BrokerClientTest, MalformedUrlsAreUsageErrors) {
  for (const std::string url :
       {"http://127.0.0.1:8443", "ftp://broker", "127.0.0.1:8443", "https://", "https://:8443", "https:///",
        "https://broker/api/v1", "https://broker//", "https://broker?x=1", "https://broker#top", "https://alice@broker",
        "https://broker:", "https://broker:0", "https://broker:65536", "https://broker:84x3", "https://::1:8443",
        "https://[::1", "https://[nonsense]:8443", "https://[::1]x", "https://bro ker", "https://-broker", ""}) {
    SCOPED_TRACE(url);
    auto made = client(url);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error().category, ErrorCategory::usage);
    EXPECT_EQ(exit_status_for(made.error()), exit_status::usage);
  }
  auto plain = client("http://127.0.0.1:8443");
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("must start with https://"), std::string::npos) << plain.error().message;

  const std::vector<std::pair<std::string, std::string>> good = {
      {"https://127.0.0.1:8443", "https://127.0.0.1:8443"},
      {"https://127.0.0.1:8443/", "https://127.0.0.1:8443"},
      {"HTTPS://Broker.Example", "https://broker.example:443"},
      {"https://[::1]:8443", "https://[::1]:8443"},
      {"https://[0:0::1]", "https://[::1]:443"},
  };
  for (const auto& [url, origin] : good) {
    SCOPED_TRACE(url);
    auto made = client(url);
    ASSERT_TRUE(made) << made.error().describe();
    EXPECT_EQ(made->origin(), origin);
  }
}

TEST_F(BrokerClientTest, ABrokerThatIsNotListeningIsAClearFailure) {
  std::uint16_t port = 0;
  {
    asio::io_context io;
    const tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  const std::string url = "https://127.0.0.1:" + std::to_string(port);
  auto made = client(url);
  ASSERT_TRUE(made) << made.error().describe();
  auto answer = made->request("GET", "/api/v1/whoami", std::nullopt);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().category, ErrorCategory::io);
  EXPECT_EQ(answer.error().message, "cannot reach the broker at " + url + ": connection refused");
  EXPECT_EQ(exit_status_for(answer.error()), exit_status::failed);
}

TEST_F(BrokerClientTest, BadMethodsAndTargetsAreUsageErrorsAndNothingIsSent) {
  const TestServer server(broker_.server(), whoami);
  auto made = client(server.url());
  ASSERT_TRUE(made) << made.error().describe();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"FETCH", "/api/v1/whoami"}, {"GET", "api/v1/whoami"}, {"GET", ""},
      {"GET", "/api/v1/who ami"},  {"GET", "/x\r\nX-Evil: 1"}, {"GET", "https://elsewhere/"},
  };
  for (const auto& [method, target] : bad) {
    SCOPED_TRACE(fmt::format("{} {}", method, target));
    auto answer = made->request(method, target, std::nullopt);
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().category, ErrorCategory::usage);
  }
  auto not_utf8 = made->request("POST", "/api/v1/users", Json{{"full_name", "Ren\xe9"}});
  ASSERT_FALSE(not_utf8);
  EXPECT_EQ(not_utf8.error().category, ErrorCategory::usage);
  EXPECT_TRUE(server.received().empty());
}

}  // namespace
}  // namespace sdbox::ctl
