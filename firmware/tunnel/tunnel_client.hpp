#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/frame.hpp"
#include "sdbox/common/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace sdbox::firmware {

/// The box's device identity as `sdboxctl box add` issues it.
struct BoxIdentity {
  std::filesystem::path certificate;  ///< client.crt
  std::filesystem::path key;          ///< client.key
  std::filesystem::path broker_ca;    ///< broker-ca.crt: the only CA the box trusts the broker by
  /// A bundle folder: client.crt, client.key, broker-ca.crt.
  static BoxIdentity from_bundle(const std::filesystem::path& directory);
};

struct BrokerAddress {
  std::string host;
  std::uint16_t port = 0;
  /// The name the broker's certificate must carry (DNS or IP); the host when empty.
  std::string server_name;
};

/// The box end of the tunnel: TLS 1.3 with the box certificate, the broker's certificate checked
/// against the broker CA and its name, then frames. Refusals from the broker come back as
/// frames (type refusal); transport failures as `tunnel` errors whose message says what
/// happened ("the broker refused this box's certificate: certificate revoked").
class TunnelClient {
 public:
  struct Config {
    boost::asio::any_io_executor executor;
    BrokerAddress broker;
    BoxIdentity identity;
    std::chrono::milliseconds timeout{10000};  ///< per connect and per request
    std::string firmware_version = "sdbox-firmware 0.1.0";
  };

  static Result<std::unique_ptr<TunnelClient>> create(Config config);
  /// `count` clients sharing one TLS context (one box identity): for load generators.
  static Result<std::vector<std::unique_ptr<TunnelClient>>> create_many(const Config& config, std::size_t count);
  virtual ~TunnelClient() = default;

  /// TCP, TLS, then hello both ways. Returns the broker's hello, or its refusal.
  virtual boost::asio::awaitable<Result<wire::Frame>> connect() = 0;
  /// Sends a frame and waits for the broker's answer (pongs are not answers).
  virtual boost::asio::awaitable<Result<wire::Frame>> request(const wire::Frame& frame) = 0;
  /// Sends a frame that has no answer (login_event, bye, ping).
  virtual boost::asio::awaitable<Status> send(const wire::Frame& frame) = 0;
  /// Waits for the next frame from the broker.
  virtual boost::asio::awaitable<Result<wire::Frame>> receive() = 0;
  /// This tunnel's RFC 8446 exporter value for the login proof (valid once connected).
  [[nodiscard]] virtual const Bytes& exporter() const = 0;
  virtual void close() = 0;
};

}  // namespace sdbox::firmware
