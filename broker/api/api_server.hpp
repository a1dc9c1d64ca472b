#pragma once

#include "api/api_routes.hpp"

#include "sdbox/common/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

namespace sdbox::broker {

/// The admin and ops API over HTTPS (Boost.Beast): one coroutine per connection on the broker's
/// io_context. TLS needs a client certificate from the staff CA; then every request is answered
/// for the active member of staff that certificate belongs to (looked up in the store at each
/// request, so a revoked member is out at once), and audited as `api.request`.
class ApiServer {
 public:
  struct Config {
    boost::asio::any_io_executor executor;
    boost::asio::ip::tcp::endpoint listen;
    std::filesystem::path pki_directory;  ///< server.crt/key, staff-ca/ca.crt
    ApiRoutes* routes = nullptr;
    /// Told each answered request's status (metrics); may be empty.
    std::function<void(int status)> answered{};
    /// A connection that has not finished its TLS handshake within this closes.
    std::chrono::seconds handshake_timeout{10};
    /// A connection that sends no complete request within this closes.
    std::chrono::seconds idle_timeout{60};
    /// The event streams send the state when state_changed() says it changed; at this interval
    /// they check the member again (a revoked one's stream stops) and keep the stream alive.
    std::chrono::milliseconds event_interval{2000};
    std::size_t max_connections = 256;
  };

  /// Loads the TLS identity and the staff CA, binds the port.
  static Result<std::unique_ptr<ApiServer>> create(Config config);
  virtual ~ApiServer() = default;
  virtual void start() = 0;
  /// Stops accepting and closes every connection (event streams included).
  virtual void stop() = 0;
  /// Something changed: event streams send the new state now (computed once for all of them).
  virtual void state_changed() = 0;
  [[nodiscard]] virtual boost::asio::ip::tcp::endpoint local_endpoint() const = 0;
};

}  // namespace sdbox::broker
