#include "tunnel/tunnel_client.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/frame_io.hpp"
#include "sdbox/common/login_proof.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

namespace sdbox::firmware {

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using wire::Frame;
using wire::FrameType;

Error tunnel_error(std::string message) { return make_error(ErrorCategory::tunnel, std::move(message)); }

/// A TLS alert from the broker during or just after the handshake means it refused us; say so.
std::string explain(std::string text) {
  if (text.find("alert") != std::string::npos) return "the broker refused this box's certificate: " + text;
  if (text.find("certificate verify failed") != std::string::npos) {
    return "the broker's certificate is not the one this box trusts (" + text + ")";
  }
  return text;
}

class TunnelClientImpl final : public TunnelClient {
 public:
  TunnelClientImpl(Config config, std::shared_ptr<ssl::context> tls)
      : config_(std::move(config)), tls_(std::move(tls)), deadline_(config_.executor) {}

  // Each public operation runs under a deadline that closes the socket; the deadline is
  // cancelled when the operation completes, never from a destructor (a coroutine frame destroyed
  // with its io_context must not touch this object).
  asio::awaitable<Result<Frame>> connect() override {
    close();
    stream_ = std::make_unique<ssl::stream<tcp::socket>>(config_.executor, *tls_);
    writer_ = std::make_unique<wire::FrameWriter<ssl::stream<tcp::socket>>>(*stream_);
    arm();
    auto result = co_await connect_inner();
    deadline_.cancel();
    co_return result;
  }

  asio::awaitable<Result<Frame>> request(const Frame& frame) override {
    if (!stream_) co_return tunnel_error("not connected");
    arm();
    auto result = co_await request_inner(frame);
    deadline_.cancel();
    co_return result;
  }

  asio::awaitable<Status> send(const Frame& frame) override {
    if (!stream_) co_return tunnel_error("not connected");
    arm();
    auto sent = co_await writer_->write(frame);
    deadline_.cancel();
    if (!sent) co_return tunnel_error(explain_failure(sent.error()));
    co_return Status{};
  }

 private:
  asio::awaitable<Result<Frame>> connect_inner() {
    tcp::resolver resolver(config_.executor);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(
        config_.broker.host, std::to_string(config_.broker.port), asio::as_tuple(asio::use_awaitable));
    if (resolve_error) co_return tunnel_error(fmt::format("cannot resolve {}: {}", config_.broker.host, resolve_error.message()));
    auto [connect_error, endpoint] =
        co_await asio::async_connect(stream_->lowest_layer(), endpoints, asio::as_tuple(asio::use_awaitable));
    if (connect_error) {
      co_return tunnel_error(fmt::format("the broker at {}:{} is unreachable: {}", config_.broker.host,
                                         config_.broker.port, timed_out_ ? "timed out" : connect_error.message()));
    }
    boost::system::error_code ignored;
    stream_->lowest_layer().set_option(tcp::no_delay(true), ignored);
    const std::string name = config_.broker.server_name.empty() ? config_.broker.host : config_.broker.server_name;
    SSL_set_tlsext_host_name(stream_->native_handle(), name.c_str());
    stream_->set_verify_callback(ssl::host_name_verification(name));
    auto [handshake_error] =
        co_await stream_->async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (handshake_error) co_return tunnel_error(timed_out_ ? "the TLS handshake timed out" : explain(handshake_error.message()));
    exporter_.assign(login::kExporterSize, 0);
    if (SSL_export_keying_material(stream_->native_handle(), exporter_.data(), exporter_.size(),
                                   login::kExporterLabel.data(), login::kExporterLabel.size(), nullptr, 0, 0) != 1) {
      co_return tunnel_error("the TLS exporter failed");
    }
    // Frames are built before co_await: g++ 12 cannot keep literal temporaries across a suspension.
    const Frame hello{FrameType::hello, {{"firmware", config_.firmware_version}}};
    if (auto sent = co_await wire::write_frame(*stream_, hello); !sent) {
      co_return tunnel_error(explain_failure(sent.error()));
    }
    co_return co_await answer();
  }

  asio::awaitable<Result<Frame>> request_inner(const Frame& frame) {
    if (auto sent = co_await writer_->write(frame); !sent) co_return tunnel_error(explain_failure(sent.error()));
    co_return co_await answer();
  }


 public:
  asio::awaitable<Result<Frame>> receive() override {
    if (!stream_) co_return tunnel_error("not connected");
    auto frame = co_await wire::read_frame(*stream_);
    if (!frame) co_return tunnel_error(explain_failure(frame.error()));
    co_return frame;
  }

  [[nodiscard]] const Bytes& exporter() const override { return exporter_; }

  void close() override {
    deadline_.cancel();
    if (!stream_) return;
    boost::system::error_code ignored;
    stream_->lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_->lowest_layer().close(ignored);
  }

 private:
  /// Closes the socket if the current operation outlives the timeout.
  void arm() {
    timed_out_ = false;
    deadline_.expires_after(config_.timeout);
    deadline_.async_wait([this, stream = stream_.get()](const boost::system::error_code& error) {
      if (error || stream != stream_.get()) return;
      timed_out_ = true;
      boost::system::error_code ignored;
      stream_->lowest_layer().close(ignored);
    });
  }

  std::string explain_failure(const Error& error) const {
    if (timed_out_) return "the broker did not answer in time";
    return explain(error.message);
  }

  asio::awaitable<Result<Frame>> answer() {
    for (;;) {
      auto frame = co_await wire::read_frame(*stream_);
      if (!frame) co_return tunnel_error(explain_failure(frame.error()));
      // Pongs, and the tail of a desktop session that has just ended, are not answers.
      if (frame->type != FrameType::pong && frame->type != FrameType::desktop_data) co_return frame;
    }
  }

  Config config_;
  std::shared_ptr<ssl::context> tls_;
  std::unique_ptr<ssl::stream<tcp::socket>> stream_;
  /// Keepalives, login events and the desktop relay all write: one frame at a time.
  std::unique_ptr<wire::FrameWriter<ssl::stream<tcp::socket>>> writer_;
  asio::steady_timer deadline_;
  bool timed_out_ = false;
  Bytes exporter_;
};

}  // namespace

BoxIdentity BoxIdentity::from_bundle(const std::filesystem::path& directory) {
  return BoxIdentity{directory / "client.crt", directory / "client.key", directory / "broker-ca.crt"};
}

namespace {
Result<std::shared_ptr<ssl::context>> make_client_context(const TunnelClient::Config& config) {
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = tls->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set1_groups_list(native, "P-256");
  boost::system::error_code error;
  tls->use_certificate_chain_file(config.identity.certificate.string(), error);
  if (error) {
    return make_error(ErrorCategory::config, fmt::format("the box certificate {}: {}", config.identity.certificate.string(),
                                                         crypto::last_openssl_error()));
  }
  tls->use_private_key_file(config.identity.key.string(), ssl::context::pem, error);
  if (error) {
    return make_error(ErrorCategory::config,
                      fmt::format("the box key {}: {}", config.identity.key.string(), crypto::last_openssl_error()));
  }
  tls->load_verify_file(config.identity.broker_ca.string(), error);
  if (error) {
    return make_error(ErrorCategory::config, fmt::format("the broker CA {}: {}", config.identity.broker_ca.string(),
                                                         crypto::last_openssl_error()));
  }
  tls->set_verify_mode(ssl::verify_peer);
  if (config.broker.host.empty() || config.broker.port == 0) {
    return make_error(ErrorCategory::config, "the broker's host and port are required");
  }
  return tls;
}
}  // namespace

Result<std::unique_ptr<TunnelClient>> TunnelClient::create(Config config) {
  auto tls = make_client_context(config);
  if (!tls) return tls.error();
  return std::unique_ptr<TunnelClient>(new TunnelClientImpl(std::move(config), std::move(*tls)));
}

Result<std::vector<std::unique_ptr<TunnelClient>>> TunnelClient::create_many(const Config& config, std::size_t count) {
  auto tls = make_client_context(config);
  if (!tls) return tls.error();
  std::vector<std::unique_ptr<TunnelClient>> clients;
  clients.reserve(count);
  for (std::size_t i = 0; i < count; ++i) clients.push_back(std::make_unique<TunnelClientImpl>(config, *tls));
  return clients;
}

}  // namespace sdbox::firmware
