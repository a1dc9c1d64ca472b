#include "api/api_server.hpp"

#include "pki/pki.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

#include <list>
#include <optional>
#include <utility>

namespace sdbox::broker {

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
// A plain Asio TLS stream with our own deadline (Connection::expires_after) rather than beast's
// ssl_stream over tcp_stream: the same protocol with fewer layers of templates for every HTTP
// operation to instantiate (this file compiled in 40.5 s instead of 47.1 s).
using Stream = asio::ssl::stream<tcp::socket>;
using Json = nlohmann::json;

constexpr std::size_t kMaxBody = std::size_t{64} * 1024;
constexpr std::size_t kMaxHeader = std::size_t{16} * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(10);
constexpr auto kKeepaliveComment = std::chrono::seconds(15);


template <class Field>
std::string header(const http::request<http::string_body>& request, Field field) {
  auto found = request.find(field);
  return found == request.end() ? std::string() : std::string(found->value());
}

/// Headers every answer carries: nothing cached, nothing framed, nothing sniffed, nothing loaded
/// from elsewhere by the dashboard.
template <class Response>
void secure_headers(Response& response) {
  response.set(http::field::server, "sdbox-broker");
  response.set(http::field::cache_control, "no-store");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("X-Frame-Options", "DENY");
  response.set("Referrer-Policy", "no-referrer");
  response.set("Strict-Transport-Security", "max-age=31536000");
  response.set("Content-Security-Policy",
               "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
}

/// One staff connection.
struct Connection : std::enable_shared_from_this<Connection> {
  Connection(tcp::socket socket, ssl::context& tls)
      : stream(std::move(socket), tls), wake(stream.get_executor()), deadline(stream.get_executor()) {}
  Stream stream;
  beast::flat_buffer buffer;
  asio::steady_timer wake;  ///< an event stream waits here for the next change
  std::string peer;

  /// The operation started next must end within `limit`, or the connection closes under it (a
  /// peer that stops reading or writing holds nothing for longer). Each call replaces the last.
  void expires_after(std::chrono::steady_clock::duration limit) {
    ++deadline_generation;
    deadline.expires_after(limit);
    deadline.async_wait([weak = weak_from_this(), generation = deadline_generation](const boost::system::error_code& error) {
      auto self = weak.lock();
      // A deadline replaced or cancelled since may still have fired: only the current one closes.
      if (error || !self || self->deadline_generation != generation) return;
      self->close();
    });
  }

  void expires_never() {
    ++deadline_generation;
    deadline.cancel();
  }

  void close() {
    boost::system::error_code ignored;
    stream.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream.next_layer().close(ignored);
    wake.cancel();
    deadline.cancel();
  }

 private:
  asio::steady_timer deadline;
  std::uint64_t deadline_generation = 0;
};

/// Who a verified staff certificate belongs to: the member, or why not.
struct Identity {
  std::optional<StaffMember> staff;
  std::string certificate_serial;
  std::string refusal;  ///< why the certificate opens nothing
};

class ApiServerCore final : public std::enable_shared_from_this<ApiServerCore> {
 public:
  using Config = ApiServer::Config;
  ApiServerCore(Config config, std::shared_ptr<ssl::context> tls, tcp::acceptor acceptor)
      : config_(std::move(config)), tls_(std::move(tls)), acceptor_(std::move(acceptor)) {}

  void start() { asio::co_spawn(config_.executor, accept_loop(shared_from_this()), log::coroutine_failure("api", "accept")); }

  void stop() {
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& weak : connections_) {
      if (auto connection = weak.lock()) connection->close();
    }
  }

  void state_changed() {
    ++state_generation_;
    for (auto& weak : connections_) {
      if (auto connection = weak.lock()) connection->wake.cancel();
    }
  }

  [[nodiscard]] tcp::endpoint local_endpoint() const {
    boost::system::error_code ignored;
    return acceptor_.local_endpoint(ignored);
  }

 private:
  asio::awaitable<void> accept_loop(std::shared_ptr<ApiServerCore> self) {
    while (!stopping_) {
      auto [error, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) {
        if (stopping_ || error == asio::error::operation_aborted) co_return;
        log::component("api")->warn("accept failed: {}", error.message());
        continue;
      }
      connections_.remove_if([](const std::weak_ptr<Connection>& weak) { return weak.expired(); });
      if (connections_.size() >= config_.max_connections) {
        log::component("api")->warn("too many staff connections; one refused max={}", config_.max_connections);
        continue;  // the socket closes here
      }
      socket.set_option(tcp::no_delay(true), error);
      auto connection = std::make_shared<Connection>(std::move(socket), *tls_);
      connections_.push_back(connection);
      asio::co_spawn(acceptor_.get_executor(), serve(self, connection), log::coroutine_failure("api", "api connection"));
    }
  }

  Identity identify(Connection& connection) {
    Identity identity;
    X509* certificate = SSL_get0_peer_certificate(connection.stream.native_handle());
    if (certificate == nullptr) {
      identity.refusal = "no certificate";
      return identity;
    }
    identity.certificate_serial = crypto::certificate_serial_hex(*certificate);
    auto staff = config_.routes->config().store->staff_by_serial(identity.certificate_serial);
    if (!staff) {
      identity.refusal = is_store_failure(staff.error(), StoreFailure::not_found)
                             ? "this certificate belongs to no member of staff"
                             : "the store cannot say who this certificate belongs to";
      return identity;
    }
    if (staff->state != StaffState::active) {
      identity.refusal = fmt::format("'{}' is no longer a member of staff", staff->name);
      return identity;
    }
    if (crypto::certificate_common_name(*certificate) != staff->name) {
      identity.refusal = "the certificate's name is not the staff member's";
      return identity;
    }
    identity.staff = std::move(*staff);
    return identity;
  }

  void audit(const Identity& identity, const ApiRequest& request, const ApiResponse& response, const std::string& peer) {
    const std::string actor = identity.staff ? "staff:" + identity.staff->name : "staff-certificate:" + identity.certificate_serial;
    Json details{{"method", request.method},
                 {"target", request.target.substr(0, 256)},
                 {"status", response.status},
                 {"peer", peer}};
    if (!response.refusal.empty()) details["reason"] = response.refusal;
    const std::string outcome = response.status < 400 ? "ok" : "refused";
    if (auto written = config_.routes->config().store->audit({actor, "api.request", outcome, details}); !written) {
      log::component("api")->error("audit failed action=api.request error=\"{}\"", written.error().describe());
    }
    if (config_.answered) config_.answered(response.status);
  }

  asio::awaitable<void> serve(std::shared_ptr<ApiServerCore> self, std::shared_ptr<Connection> connection) {
    (void)self;
    boost::system::error_code ignored;
    const auto remote = connection->stream.next_layer().remote_endpoint(ignored);
    connection->peer = fmt::format("{}:{}", remote.address().to_string(), remote.port());
    connection->expires_after(config_.handshake_timeout);
    auto [handshake_error] =
        co_await connection->stream.async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (handshake_error) {
      log::component("api")->warn("staff handshake refused {}", log::Fields()
                                                                    .add("peer", connection->peer)
                                                                    .add("detail", handshake_error.message()));
      connection->close();
      co_return;
    }
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBody);
      parser.header_limit(kMaxHeader);
      connection->expires_after(config_.idle_timeout);
      auto [read_error, read] = co_await http::async_read(connection->stream, connection->buffer, parser,
                                                          asio::as_tuple(asio::use_awaitable));
      (void)read;
      if (read_error == http::error::end_of_stream || read_error == asio::error::eof || stopping_) break;
      const auto identity = identify(*connection);
      ApiRequest request;
      ApiResponse response;
      bool keep_alive = false;
      if (read_error) {
        if (read_error.category() != beast::http::make_error_code(http::error::body_limit).category()) {
          break;  // the connection broke or timed out: nobody to answer
        }
        request.method = "?";
        request.target = "?";
        response = read_error == http::error::body_limit
                       ? api_error_response(413, api_error::kTooLarge, fmt::format("a body is at most {} bytes", kMaxBody))
                       : api_error_response(400, api_error::kInvalidRequest, "malformed request: " + read_error.message());
      } else {
        const auto& message = parser.get();
        request.method = std::string(message.method_string());
        request.target = std::string(message.target());
        request.content_type = header(message, http::field::content_type);
        request.origin = header(message, http::field::origin);
        request.host = header(message, http::field::host);
        request.fetch_site = header(message, std::string_view("Sec-Fetch-Site"));
        request.body = message.body();
        keep_alive = message.keep_alive();
        if (!identity.staff) {
          response = api_error_response(403, api_error::kUnknownStaff, identity.refusal);
        } else {
          response = config_.routes->handle(*identity.staff, request);
        }
      }
      audit(identity, request, response, connection->peer);
      if (response.event_stream && identity.staff) {
        co_await stream_events(*connection, identity.certificate_serial);
        break;
      }
      http::response<http::string_body> answer{static_cast<http::status>(response.status), 11};
      secure_headers(answer);
      answer.set(http::field::content_type, response.content_type);
      answer.body() = std::move(response.body);
      answer.keep_alive(keep_alive);
      answer.prepare_payload();
      connection->expires_after(kWriteTimeout);
      auto [write_error, written] = co_await http::async_write(connection->stream, answer, asio::as_tuple(asio::use_awaitable));
      (void)written;
      if (write_error || !keep_alive) break;
    }
    connection->expires_after(std::chrono::seconds(2));
    (void)co_await connection->stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
    connection->close();
  }

  /// Server-sent events: the whole state at once, again on every change (or at the interval
  /// when it changed unnoticed), a comment now and then so proxies keep the stream open. The
  /// member is looked up again each time: a revoked member's stream stops.
  asio::awaitable<void> stream_events(Connection& connection, const std::string& serial) {
    http::response<http::empty_body> head{http::status::ok, 11};
    secure_headers(head);
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::connection, "close");
    http::response_serializer<http::empty_body> serializer{head};
    connection.expires_after(kWriteTimeout);
    auto [head_error, head_written] = co_await http::async_write_header(connection.stream, serializer, asio::as_tuple(asio::use_awaitable));
    (void)head_written;
    if (head_error) co_return;
    std::string last;
    auto last_write = std::chrono::steady_clock::now();
    while (!stopping_) {
      auto staff = config_.routes->config().store->staff_by_serial(serial);
      if (!staff || staff->state != StaffState::active) break;
      const std::string& state = current_state();
      std::string text;
      if (state != last) {
        text = "event: state\ndata: " + state + "\n\n";
        last = state;
      } else if (std::chrono::steady_clock::now() - last_write > kKeepaliveComment) {
        text = ": still here\n\n";
      }
      if (!text.empty()) {
        connection.expires_after(kWriteTimeout);
        auto [error, written] = co_await asio::async_write(connection.stream, asio::buffer(text), asio::as_tuple(asio::use_awaitable));
        (void)written;
        if (error) break;
        last_write = std::chrono::steady_clock::now();
      }
      connection.expires_never();
      connection.wake.expires_after(config_.event_interval);
      (void)co_await connection.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  /// The state as the event streams send it: computed once per change, whatever the number of
  /// streams.
  const std::string& current_state() {
    if (!state_cache_ || state_cache_->first != state_generation_) {
      state_cache_.emplace(state_generation_,
                           config_.routes->state_json().dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    return state_cache_->second;
  }

  Config config_;
  std::shared_ptr<ssl::context> tls_;
  std::uint64_t state_generation_ = 0;
  std::optional<std::pair<std::uint64_t, std::string>> state_cache_;
  tcp::acceptor acceptor_;
  std::list<std::weak_ptr<Connection>> connections_;
  bool stopping_ = false;
};

class ApiServerImpl final : public ApiServer {
 public:
  explicit ApiServerImpl(std::shared_ptr<ApiServerCore> core) : core_(std::move(core)) {}
  ~ApiServerImpl() override { core_->stop(); }
  ApiServerImpl(const ApiServerImpl&) = delete;
  ApiServerImpl& operator=(const ApiServerImpl&) = delete;
  void start() override { core_->start(); }
  void stop() override { core_->stop(); }
  void state_changed() override { core_->state_changed(); }
  [[nodiscard]] tcp::endpoint local_endpoint() const override { return core_->local_endpoint(); }

 private:
  std::shared_ptr<ApiServerCore> core_;
};

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::create(Config config) {
  if (config.routes == nullptr) throw std::invalid_argument("ApiServer needs its routes");
  const Pki pki(config.pki_directory);
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = tls->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(native, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384");
  SSL_CTX_set1_groups_list(native, "P-256:X25519");
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);
  boost::system::error_code error;
  tls->use_certificate_chain_file(pki.server_certificate().string(), error);
  if (!error) tls->use_private_key_file(pki.server_key().string(), ssl::context::pem, error);
  if (!error) tls->load_verify_file(pki.ca_certificate(Pki::Authority::staff).string(), error);
  if (error) {
    return make_error(ErrorCategory::config, fmt::format("loading the API's TLS identity and the staff CA from {}: {}",
                                                         pki.directory().string(), crypto::last_openssl_error()));
  }
  // Only the staff CA is offered and trusted: a box's or a card's certificate opens nothing here.
  SSL_CTX_set_client_CA_list(native, SSL_load_client_CA_file(pki.ca_certificate(Pki::Authority::staff).c_str()));
  tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);

  tcp::acceptor acceptor(config.executor);
  acceptor.open(config.listen.protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(config.listen, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return make_error(ErrorCategory::io, fmt::format("cannot listen on {}:{} for the admin API: {}",
                                                     config.listen.address().to_string(), config.listen.port(), error.message()));
  }
  return std::unique_ptr<ApiServer>(
      new ApiServerImpl(std::make_shared<ApiServerCore>(std::move(config), std::move(tls), std::move(acceptor))));
}

}  // namespace sdbox::broker
