#pragma once

#include "desktop/desktop_provider.hpp"
#include "ops/alert_monitor.hpp"
#include "pki/pki.hpp"
#include "store/store.hpp"
#include "tunnel/live_connections.hpp"

#include "sdbox/common/clock.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sdbox::broker {

/// One HTTP request as the routes see it (the transport has read and bounded it).
struct ApiRequest {
  std::string method;        ///< "GET", "POST", ...
  std::string target;        ///< path and query, as sent
  std::string content_type;  ///< the Content-Type header, or empty
  std::string origin;        ///< the Origin header, or empty
  std::string host;          ///< the Host header
  std::string fetch_site;    ///< the Sec-Fetch-Site header, or empty
  std::string body;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// The request opened the live event stream (server-sent events): the transport keeps the
  /// connection and sends `state_json()` on every change.
  bool event_stream = false;
  /// For the audit record: the reason of a refusal, empty when the call succeeded.
  std::string refusal;
};

/// Error reasons of the API (docs/api.md).
namespace api_error {
inline constexpr const char* kInvalidRequest = "invalid_request";
inline constexpr const char* kUnknownStaff = "unknown_staff";
inline constexpr const char* kForbidden = "forbidden";
inline constexpr const char* kCrossOrigin = "cross_origin";
inline constexpr const char* kNotFound = "not_found";
inline constexpr const char* kMethodNotAllowed = "method_not_allowed";
inline constexpr const char* kConflict = "conflict";
inline constexpr const char* kTooLarge = "too_large";
inline constexpr const char* kUnsupportedMediaType = "unsupported_media_type";
inline constexpr const char* kStorage = "storage";
}  // namespace api_error

/// An error answer: {"error": {"reason", "message"}}.
ApiResponse api_error_response(int status, const std::string& reason, const std::string& message);

/// What the admin API does: every resource of docs/api.md, each role's allowed calls, strict
/// validation of every body and query. No I/O of its own beyond the store, the PKI files and
/// the live connections; the transport (ApiServer) authenticates the member of staff first.
class ApiRoutes {
 public:
  struct Config {
    Store* store = nullptr;
    LiveConnections* live = nullptr;
    DesktopProvider* desktops = nullptr;
    AlertMonitor* alerts = nullptr;
    const Clock* clock = nullptr;
    std::filesystem::path pki_directory;
    /// The Prometheus text for /metrics.
    std::function<std::string()> metrics;
    /// Called after every change, so its effect on live connections is enforced at once.
    std::function<void()> changed;
  };
  explicit ApiRoutes(Config config);

  /// Answers `request` for `staff` (an active member whose certificate the transport verified).
  ApiResponse handle(const StaffMember& staff, const ApiRequest& request);
  /// What the dashboard's event stream sends: {"sessions", "boxes", "alerts"}.
  nlohmann::json state_json();
  [[nodiscard]] const Config& config() const { return config_; }

 private:
  using Parameters = std::vector<std::string>;
  using Handler = std::function<ApiResponse(const StaffMember&, const ApiRequest&, const Parameters&)>;
  struct Route {
    std::string method;
    std::vector<std::string> segments;  ///< "{name}" matches one segment and becomes a parameter
    std::vector<StaffRole> roles;
    Handler handler;
  };
  void add(std::string method, const std::string& pattern, std::vector<StaffRole> roles, Handler handler);

  Config config_;
  Pki pki_;
  std::vector<Route> routes_;
};

}  // namespace sdbox::broker
