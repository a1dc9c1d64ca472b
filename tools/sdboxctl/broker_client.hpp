#pragma once
// sdboxctl's client of the broker's admin API (docs/api.md): HTTPS with a staff certificate,
// one connection per request, answers as JSON.

#include "sdbox/common/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sdbox::ctl {

/// `Error::code` of the `broker` errors that `expect_success` makes from API refusals. The values
/// are those of `broker::StoreFailure`, so `exit_status_for` and callers that test for "not found"
/// treat a refusal by the API like the same refusal by the local store.
namespace api_failure {
inline constexpr std::int64_t not_found = 1;  ///< 404
inline constexpr std::int64_t conflict = 2;   ///< 409
inline constexpr std::int64_t invalid = 3;    ///< 401, 403: the staff member may not do this
inline constexpr std::int64_t storage = 4;    ///< 500 `storage`: the broker's store failed
}  // namespace api_failure

/// The broker's admin API over HTTPS, authenticated by a staff bundle (client.crt, client.key,
/// broker-ca.crt, as `broker::Pki::issue_client_bundle` writes it). The broker is trusted only
/// through broker-ca.crt and only under the host name or address of the URL. Copies share the
/// loaded credentials; `request` may be called from several threads at once.
class BrokerClient {
 public:
  struct Config {
    /// "https://host[:port]" with an optional trailing "/"; the host is a DNS name, an IPv4
    /// address or a bracketed IPv6 address. The port defaults to 443.
    std::string url;
    /// The staff bundle folder.
    std::filesystem::path staff_directory;
    /// Limit for one whole exchange: name lookup, connection, TLS handshake, request and answer.
    std::chrono::seconds timeout{10};
  };

  struct Response {
    int status = 0;
    /// The JSON answer; null for 204 No Content.
    nlohmann::json body;
  };

  /// Answers larger than this are refused: no API answer comes close, and sdboxctl keeps the
  /// whole answer in memory.
  static constexpr std::size_t max_response_bytes = std::size_t{16} << 20U;

  /// Checks the URL (a `usage` error when it is not https://host[:port]) and loads the staff
  /// bundle (`config` errors naming the file: missing, unreadable, not a certificate or key,
  /// a key that does not belong to client.crt).
  static Result<BrokerClient> create(const Config& config);

  /// One request: `method` is an HTTP method ("GET", "POST", ...), `target` an absolute path with
  /// an optional query ("/api/v1/cards"). A body is sent as `application/json`.
  /// Any HTTP status is a successful result here (see `expect_success`); errors are failures to
  /// get a JSON answer: `io` (unreachable, timed out, not HTTP, not JSON, too large) or `crypto`
  /// (the broker's certificate is not trusted, or the broker refused the staff certificate).
  /// Bad arguments (an unknown method, a target that is not a path) are `usage` errors.
  [[nodiscard]] Result<Response> request(std::string_view method, std::string_view target,
                                         const std::optional<nlohmann::json>& body = std::nullopt) const;

  /// `request` followed by `expect_success`.
  [[nodiscard]] Result<nlohmann::json> call(std::string_view method, std::string_view target,
                                            const std::optional<nlohmann::json>& body = std::nullopt) const;

  /// The broker's origin as used on the wire: "https://host:port".
  [[nodiscard]] const std::string& origin() const;

 private:
  struct Shared;
  explicit BrokerClient(std::shared_ptr<const Shared> shared);
  std::shared_ptr<const Shared> shared_;
};

/// The body of a 2xx answer; otherwise the API's error (`{"error":{"reason","message"}}`) as an
/// `Error` that sdboxctl's exit statuses understand:
/// 400, 405, 413, 415 and other 4xx -> `usage`;
/// 404 -> `broker`/`api_failure::not_found`, 409 -> `broker`/`api_failure::conflict`,
/// 401, 403 -> `broker`/`api_failure::invalid` (all "refused");
/// 500 `storage` -> `broker`/`api_failure::storage`, other 5xx and unexpected statuses -> `io`
/// (all "failed"). The message is the broker's own sentence when it gave one.
Result<nlohmann::json> expect_success(Result<BrokerClient::Response> answer);

}  // namespace sdbox::ctl
