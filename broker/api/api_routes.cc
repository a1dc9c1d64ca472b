#include "api/api_routes.hpp"

#include "api/dashboard_assets.hpp"
#include "pki/crl_publisher.hpp"
#include "store/store_json.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

namespace sdbox::broker {

using Json = nlohmann::json;

ApiResponse api_error_response(int status, const std::string& reason, const std::string& message) {
  ApiResponse response;
  response.status = status;
  // The message may quote the request (a path with bytes that are not UTF-8): replaced, not thrown.
  response.body = Json{{"error", {{"reason", reason}, {"message", message}}}}.dump(-1, ' ', false, Json::error_handler_t::replace);
  response.refusal = reason;
  return response;
}

namespace {

constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxText = 200;
constexpr std::size_t kMaxReason = 500;

const std::vector<StaffRole> kEveryone = {StaffRole::admin, StaffRole::ops, StaffRole::auditor};
const std::vector<StaffRole> kAdmins = {StaffRole::admin};
const std::vector<StaffRole> kOperators = {StaffRole::admin, StaffRole::ops};
const std::vector<StaffRole> kReaders = {StaffRole::admin, StaffRole::auditor};

ApiResponse json_response(int status, const Json& body) {
  ApiResponse response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return response;
}

ApiResponse bad_request(const std::string& message) { return api_error_response(400, api_error::kInvalidRequest, message); }

/// A failure from the store, the PKI or a parser, as the API answers it.
ApiResponse failure_response(const Error& error) {
  if (error.category == ErrorCategory::usage) return bad_request(error.message);
  if (error.category == ErrorCategory::broker) {
    switch (static_cast<StoreFailure>(error.code)) {
      case StoreFailure::not_found: return api_error_response(404, api_error::kNotFound, error.message);
      case StoreFailure::conflict: return api_error_response(409, api_error::kConflict, error.message);
      case StoreFailure::invalid: return bad_request(error.message);
      case StoreFailure::storage: break;
    }
    return api_error_response(500, api_error::kStorage, "the store failed: " + error.message);
  }
  return api_error_response(500, "internal", error.describe());
}

std::string actor_of(const StaffMember& staff) { return "staff:" + staff.name; }

bool printable(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool is_name(std::string_view text) {
  if (text.empty() || text.size() > kMaxName) return false;
  if (std::isalnum(static_cast<unsigned char>(text.front())) == 0) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

/// Reads a request body's fields strictly: the first problem is kept and reported as 400, and
/// nothing is changed. Unknown fields are problems too.
class Fields {
 public:
  Fields(const ApiRequest& request, std::initializer_list<std::string_view> allowed) {
    if (request.body.empty()) {
      problem_ = "the request needs a JSON object body";
      return;
    }
    object_ = Json::parse(request.body, nullptr, false);
    if (object_.is_discarded() || !object_.is_object()) {
      problem_ = "the body is not a JSON object";
      object_ = Json::object();
      return;
    }
    for (const auto& [key, value] : object_.items()) {
      (void)value;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        problem_ = fmt::format("unknown field '{}'", key);
        return;
      }
    }
  }

  [[nodiscard]] bool failed() const { return problem_.has_value(); }
  [[nodiscard]] ApiResponse refusal() const { return bad_request(*problem_); }

  std::string text(const char* key, std::size_t most, bool required = true) {
    auto found = object_.find(key);
    if (found == object_.end() || found->is_null()) {
      if (required) fail(fmt::format("'{}' is required", key));
      return {};
    }
    if (!found->is_string()) {
      fail(fmt::format("'{}' must be a string", key));
      return {};
    }
    auto value = found->get<std::string>();
    if ((required && value.empty()) || value.size() > most || !printable(value)) {
      fail(fmt::format("'{}' must be 1 to {} printable characters", key, most));
    }
    return value;
  }

  std::string name(const char* key) {
    auto value = text(key, kMaxName);
    if (!failed() && !is_name(value)) {
      fail(fmt::format("'{}' must be 1 to {} letters, digits, '.', '_' or '-', starting with a letter or digit", key, kMaxName));
    }
    return value;
  }

  std::int64_t integer(const char* key, std::int64_t least, std::int64_t most, std::optional<std::int64_t> fallback) {
    auto found = object_.find(key);
    if (found == object_.end() || found->is_null()) {
      if (!fallback) fail(fmt::format("'{}' is required", key));
      return fallback.value_or(0);
    }
    if (!found->is_number_integer()) {
      fail(fmt::format("'{}' must be an integer", key));
      return 0;
    }
    const auto value = found->get<std::int64_t>();
    if (value < least || value > most) fail(fmt::format("'{}' must be between {} and {}", key, least, most));
    return value;
  }

  Day day(const char* key) {
    auto value = text(key, 10);
    if (failed()) return {};
    auto parsed = parse_day(value);
    if (!parsed) {
      fail(fmt::format("'{}' must be a date as YYYY-MM-DD", key));
      return {};
    }
    return *parsed;
  }

 private:
  void fail(std::string message) {
    if (!problem_) problem_ = std::move(message);
  }
  Json object_;
  std::optional<std::string> problem_;
};

/// %XX-decodes one path segment; nullopt for a malformed escape or a decoded '/' or NUL.
std::optional<std::string> decode_segment(std::string_view segment) {
  std::string out;
  for (std::size_t at = 0; at < segment.size(); ++at) {
    if (segment[at] != '%') {
      out.push_back(segment[at]);
      continue;
    }
    if (at + 3 > segment.size()) return std::nullopt;
    unsigned value = 0;
    const auto* first = segment.data() + at + 1;
    if (std::from_chars(first, first + 2, value, 16).ptr != first + 2) return std::nullopt;
    if (value == 0 || value == '/') return std::nullopt;
    out.push_back(static_cast<char>(value));
    at += 2;
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto end = path.find('/', start);
    segments.emplace_back(path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return segments;
}

Result<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> values;
  std::size_t start = 0;
  while (start < query.size()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const auto pair = query.substr(start, end - start);
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) return make_error(ErrorCategory::usage, fmt::format("query parameter '{}' needs a value", pair));
    auto key = decode_segment(pair.substr(0, equals));
    auto value = decode_segment(pair.substr(equals + 1));
    if (!key || !value) return make_error(ErrorCategory::usage, "malformed query");
    if (!values.emplace(*key, *value).second) return make_error(ErrorCategory::usage, fmt::format("'{}' is given twice", *key));
    start = end + 1;
  }
  return values;
}

std::optional<std::int64_t> parse_integer(const std::string& text) {
  std::int64_t value = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

Json alert_json(const Alert& alert) {
  return {{"id", alert.id}, {"kind", alert.kind}, {"at", format_time(alert.at)}, {"subject", alert.subject}, {"message", alert.message}};
}

template <class Record>
ApiResponse listing(const Result<std::vector<Record>>& records) {
  if (!records) return failure_response(records.error());
  return json_response(200, to_json_array(*records));
}

bool is_change(const std::string& method) { return method != "GET" && method != "HEAD"; }

}  // namespace

ApiRoutes::ApiRoutes(Config config) : config_(std::move(config)), pki_(config_.pki_directory) {
  if (config_.store == nullptr || config_.live == nullptr || config_.desktops == nullptr || config_.alerts == nullptr ||
      config_.clock == nullptr || !config_.metrics || !config_.changed) {
    throw std::invalid_argument("ApiRoutes needs a store, live connections, a desktop provider, alerts, a clock, metrics and a change hook");
  }
  auto& store = *config_.store;

  for (const auto& asset : dashboard_assets()) {
    add("GET", std::string(asset.path), kEveryone, [&asset](const StaffMember&, const ApiRequest&, const Parameters&) {
      ApiResponse response;
      response.content_type = std::string(asset.content_type);
      response.body = std::string(asset.body);
      return response;
    });
  }
  // Browsers ask for it on their own; the dashboard has none, and a 404 would be audited as a refusal.
  add("GET", "/favicon.ico", kEveryone, [](const StaffMember&, const ApiRequest&, const Parameters&) {
    ApiResponse response;
    response.status = 204;
    response.content_type = "image/x-icon";
    return response;
  });
  add("GET", "/metrics", kEveryone, [this](const StaffMember&, const ApiRequest&, const Parameters&) {
    ApiResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = config_.metrics();
    return response;
  });
  add("GET", "/api/v1/whoami", kEveryone, [](const StaffMember& staff, const ApiRequest&, const Parameters&) {
    return json_response(200, {{"name", staff.name}, {"role", to_string(staff.role)}});
  });
  add("GET", "/api/v1/events", kEveryone, [](const StaffMember&, const ApiRequest&, const Parameters&) {
    ApiResponse response;
    response.event_stream = true;
    response.content_type = "text/event-stream";
    return response;
  });

  // ---- sites ----
  add("GET", "/api/v1/sites", kEveryone,
      [&store](const StaffMember&, const ApiRequest&, const Parameters&) { return listing(store.sites()); });
  add("POST", "/api/v1/sites", kAdmins, [&store](const StaffMember& staff, const ApiRequest& request, const Parameters&) {
    Fields fields(request, {"name"});
    const auto name = fields.name("name");
    if (fields.failed()) return fields.refusal();
    auto added = store.add_site(name, actor_of(staff));
    return added ? json_response(201, to_json(*added)) : failure_response(added.error());
  });

  // ---- boxes ----
  add("GET", "/api/v1/boxes", kEveryone, [this](const StaffMember&, const ApiRequest&, const Parameters&) {
    auto state = state_json();
    return json_response(200, state["boxes"]);
  });
  add("POST", "/api/v1/boxes", kAdmins, [this, &store](const StaffMember& staff, const ApiRequest& request, const Parameters&) {
    Fields fields(request, {"name", "site", "validity_days"});
    const auto name = fields.name("name");
    const auto site = fields.name("site");
    const auto days = fields.integer("validity_days", 1, 3650, 825);
    if (fields.failed()) return fields.refusal();
    if (auto existing = store.box(name); existing) {
      return api_error_response(409, api_error::kConflict, fmt::format("a box named '{}' exists already", name));
    }
    auto issued = pki_.issue_client(Pki::Authority::boxes, name, std::chrono::hours(24 * days));
    if (!issued) return failure_response(issued.error());
    Box box;
    box.name = name;
    box.site = site;
    box.certificate_serial = issued->serial_hex;
    box.certificate_sha256 = issued->sha256_hex;
    auto added = store.add_box(box, actor_of(staff));
    if (!added) return failure_response(added.error());
    return json_response(201, {{"box", to_json(*added)},
                               {"bundle",
                                {{"client_crt", crypto::certificate_to_pem(*issued->certificate)},
                                 {"client_key", crypto::private_key_to_pem(*issued->key)},
                                 {"broker_ca_crt", crypto::certificate_to_pem(*issued->broker_ca)}}}});
  });
  add("POST", "/api/v1/boxes/{name}/revoke", kAdmins,
      [this, &store](const StaffMember& staff, const ApiRequest& request, const Parameters& parameters) {
        Fields fields(request, {"reason"});
        const auto reason = fields.text("reason", kMaxReason);
        if (fields.failed()) return fields.refusal();
        auto revoked = store.revoke_box(parameters[0], reason, actor_of(staff));
        if (!revoked) return failure_response(revoked.error());
        // The tunnel is closed now; the CRL keeps the box out of any new handshake.
        config_.changed();
        if (auto listed = publish_crl(pki_, store, Pki::Authority::boxes); !listed) {
          log::component("api")->error("cannot rewrite the boxes CRL: {}", listed.error().describe());
        }
        return json_response(200, to_json(*revoked));
      });

  // ---- users and cards ----
  add("GET", "/api/v1/users", kEveryone,
      [&store](const StaffMember&, const ApiRequest&, const Parameters&) { return listing(store.users()); });
  add("POST", "/api/v1/users", kAdmins, [&store](const StaffMember& staff, const ApiRequest& request, const Parameters&) {
    Fields fields(request, {"login", "full_name"});
    const auto login = fields.name("login");
    const auto full_name = fields.text("full_name", kMaxText);
    if (fields.failed()) return fields.refusal();
    auto added = store.add_user({0, login, full_name, UserState::active, {}}, actor_of(staff));
    return added ? json_response(201, to_json(*added)) : failure_response(added.error());
  });
  add("GET", "/api/v1/cards", kEveryone,
      [&store](const StaffMember&, const ApiRequest&, const Parameters&) { return listing(store.cards()); });
  add("POST", "/api/v1/cards", kAdmins, [this, &store](const StaffMember& staff, const ApiRequest& request, const Parameters&) {
    Fields fields(request, {"user", "public_point_hex", "validity_days"});
    const auto login = fields.name("user");
    const auto point_hex = fields.text("public_point_hex", 130);
    const auto days = fields.integer("validity_days", 1, 3650, 4 * 365);
    if (fields.failed()) return fields.refusal();
    Bytes point;
    if (!from_hex(point_hex, point) || point.size() != 65 || point.front() != 0x04) {
      return bad_request("'public_point_hex' must be an uncompressed P-256 point (65 bytes as hex, starting 04)");
    }
    auto key = crypto::ec_public_key_from_point(point);
    if (!key) return bad_request("'public_point_hex' is not a point on P-256");
    auto user = store.user(login);
    if (!user) return failure_response(user.error());
    crypto::CertificateRequest certificate_request;
    certificate_request.common_name = user->full_name;
    certificate_request.client_auth = true;
    certificate_request.validity = std::chrono::hours(24 * days);
    auto certificate = pki_.issue_for_key(Pki::Authority::users, certificate_request, **key);
    if (!certificate) return failure_response(certificate.error());
    auto fingerprint = crypto::certificate_fingerprint(**certificate);
    if (!fingerprint) return failure_response(fingerprint.error());
    Card card;
    card.user = login;
    card.certificate_serial = crypto::certificate_serial_hex(**certificate);
    card.certificate_sha256 = *fingerprint;
    card.enrolled_at = config_.clock->now();
    auto added = store.add_card(card, actor_of(staff));
    if (!added) return failure_response(added.error());
    return json_response(201, {{"card", to_json(*added)}, {"certificate_pem", crypto::certificate_to_pem(**certificate)}});
  });
  const std::pair<const char*, CardState> card_changes[] = {
      {"suspend", CardState::suspended}, {"reinstate", CardState::active}, {"revoke", CardState::revoked}};
  for (const auto& [verb, state] : card_changes) {
    add("POST", fmt::format("/api/v1/cards/{{serial}}/{}", verb), state == CardState::suspended ? kOperators : kAdmins,
        [this, &store, state = state](const StaffMember& staff, const ApiRequest& request, const Parameters& parameters) {
          Fields fields(request, {"reason"});
          const auto reason = fields.text("reason", kMaxReason);
          if (fields.failed()) return fields.refusal();
          auto serial = normalise_serial(parameters[0]);
          if (!serial || serial->size() > 64) return bad_request("a card is named by its certificate serial in hex");
          auto changed = store.set_card_state(*serial, state, reason, actor_of(staff));
          if (!changed) return failure_response(changed.error());
          config_.changed();
          if (state == CardState::revoked) {
            if (auto listed = publish_crl(pki_, store, Pki::Authority::users); !listed) {
              log::component("api")->error("cannot rewrite the users CRL: {}", listed.error().describe());
            }
          }
          return json_response(200, to_json(*changed));
        });
  }

  // ---- projects, memberships, desktops ----
  add("GET", "/api/v1/projects", kEveryone,
      [&store](const StaffMember&, const ApiRequest&, const Parameters&) { return listing(store.projects()); });
  add("POST", "/api/v1/projects", kAdmins, [&store](const StaffMember& staff, const ApiRequest& request, const Parameters&) {
    Fields fields(request, {"name", "title"});
    const auto name = fields.name("name");
    const auto title = fields.text("title", kMaxText);
    if (fields.failed()) return fields.refusal();
    auto added = store.add_project({0, name, title}, actor_of(staff));
    return added ? json_response(201, to_json(*added)) : failure_response(added.error());
  });
  add("GET", "/api/v1/memberships", kEveryone, [&store](const StaffMember&, const ApiRequest&, const Parameters&) {
    return listing(store.memberships());
  });
  add("POST", "/api/v1/memberships", kAdmins, [&store](const StaffMember& staff, const ApiRequest& request, const Parameters&) {
    Fields fields(request, {"user", "project", "from", "until"});
    const auto user = fields.name("user");
    const auto project = fields.name("project");
    const auto from = fields.day("from");
    const auto until = fields.day("until");
    if (fields.failed()) return fields.refusal();
    auto added = store.add_membership({0, user, project, from, until}, actor_of(staff));
    return added ? json_response(201, to_json(*added)) : failure_response(added.error());
  });
  add("POST", "/api/v1/memberships/{id}/end", kAdmins,
      [this, &store](const StaffMember& staff, const ApiRequest& request, const Parameters& parameters) {
        Fields fields(request, {"reason"});
        const auto reason = fields.text("reason", kMaxReason);
        if (fields.failed()) return fields.refusal();
        const auto id = parse_integer(parameters[0]);
        if (!id || *id <= 0) return bad_request("a membership is named by its id");
        auto ended = store.end_membership(*id, reason, actor_of(staff));
        if (!ended) return failure_response(ended.error());
        config_.changed();
        return json_response(200, to_json(*ended));
      });
  add("GET", "/api/v1/desktops", kEveryone,
      [&store](const StaffMember&, const ApiRequest&, const Parameters&) { return listing(store.desktops()); });
  add("PUT", "/api/v1/desktops/{project}", kAdmins,
      [&store](const StaffMember& staff, const ApiRequest& request, const Parameters& parameters) {
        Fields fields(request, {"host", "port", "certificate_sha256", "logoff_endpoint"});
        Desktop desktop;
        desktop.project = parameters[0];
        desktop.host = fields.text("host", 253);
        desktop.port = static_cast<std::uint16_t>(fields.integer("port", 1, 65535, std::nullopt));
        desktop.certificate_sha256 = fields.text("certificate_sha256", 64, false);
        desktop.logoff_endpoint = fields.text("logoff_endpoint", 110, false);
        if (fields.failed()) return fields.refusal();
        auto set = store.set_desktop(desktop, actor_of(staff));
        return set ? json_response(200, to_json(*set)) : failure_response(set.error());
      });
  add("PUT", "/api/v1/desktops/{project}/accounts/{user}", kAdmins,
      [&store](const StaffMember& staff, const ApiRequest& request, const Parameters& parameters) {
        Fields fields(request, {"login", "password"});
        DesktopAccount account;
        account.project = parameters[0];
        account.user = parameters[1];
        account.login = fields.text("login", 104);
        account.secret = fields.text("password", 256);
        if (fields.failed()) return fields.refusal();
        auto set = store.set_desktop_account(account, actor_of(staff));
        secure_wipe(account.secret);
        if (!set) return failure_response(set.error());
        return json_response(200, {{"project", set->project}, {"user", set->user}, {"login", set->login}});
      });

  // ---- live sessions ----
  add("GET", "/api/v1/sessions", kEveryone, [this](const StaffMember&, const ApiRequest&, const Parameters&) {
    auto state = state_json();
    return json_response(200, state["sessions"]);
  });
  add("POST", "/api/v1/sessions/{id}/end", kOperators,
      [this, &store](const StaffMember& staff, const ApiRequest& request, const Parameters& parameters) {
        Fields fields(request, {"reason"});
        const auto reason = fields.text("reason", kMaxReason);
        if (fields.failed()) return fields.refusal();
        const auto id = parse_integer(parameters[0]);
        if (!id || *id <= 0) return bad_request("a session is named by its id");
        auto ended = store.end_session(*id, reason, actor_of(staff));
        if (!ended) return failure_response(ended.error());
        const bool was_connected = config_.live->end_view(
            ended->id, {enforcement::kSessionEnded, "Your session was ended by the operations team."});
        // Then the desktop session itself: its programs stop.
        const Status logged_off = log_member_off(store, *config_.desktops, *ended, actor_of(staff));
        config_.changed();
        auto answer = to_json(*ended);
        answer["was_connected"] = was_connected;
        answer["logged_off"] = logged_off.ok();
        return json_response(200, answer);
      });

  // ---- alerts and audit ----
  add("GET", "/api/v1/alerts", kEveryone, [this](const StaffMember&, const ApiRequest&, const Parameters&) {
    Json array = Json::array();
    for (const auto& alert : config_.alerts->alerts()) array.push_back(alert_json(alert));
    return json_response(200, array);
  });
  add("GET", "/api/v1/audit", kReaders, [&store](const StaffMember&, const ApiRequest& request, const Parameters&) {
    const auto mark = request.target.find('?');
    auto query = parse_query(mark == std::string::npos ? std::string_view() : std::string_view(request.target).substr(mark + 1));
    if (!query) return failure_response(query.error());
    AuditQuery audit_query;
    for (const auto& [key, value] : *query) {
      if (key == "after") {
        auto after = parse_integer(value);
        if (!after || *after < 0) return bad_request("'after' must be a sequence number (0 or more)");
        audit_query.after_sequence = *after;
      } else if (key == "limit") {
        auto limit = parse_integer(value);
        if (!limit || *limit < 1 || *limit > 1000) return bad_request("'limit' must be between 1 and 1000");
        audit_query.limit = static_cast<std::size_t>(*limit);
      } else if (key == "action") {
        if (value.size() > kMaxName || !printable(value)) return bad_request("'action' must be a short action prefix");
        audit_query.action_prefix = value;
      } else {
        return bad_request(fmt::format("unknown query parameter '{}'", key));
      }
    }
    return listing(store.audit_records(audit_query));
  });
  add("GET", "/api/v1/audit/verify", kEveryone, [&store](const StaffMember&, const ApiRequest&, const Parameters&) {
    auto verified = store.verify_audit();
    if (!verified) return failure_response(verified.error());
    return json_response(200, to_json(*verified));
  });
}

void ApiRoutes::add(std::string method, const std::string& pattern, std::vector<StaffRole> roles, Handler handler) {
  routes_.push_back(Route{std::move(method), split_path(pattern), std::move(roles), std::move(handler)});
}

ApiResponse ApiRoutes::handle(const StaffMember& staff, const ApiRequest& request) {
  const std::string_view target = request.target;
  if (target.empty() || target.front() != '/') return bad_request("the request target must be a path");
  const auto mark = target.find('?');
  const auto path = target.substr(0, mark);
  std::vector<std::string> segments;
  for (const auto& raw : split_path(path)) {
    auto decoded = decode_segment(raw);
    if (!decoded) return bad_request("malformed path");
    segments.push_back(std::move(*decoded));
  }
  const Route* matched = nullptr;
  bool path_exists = false;
  Parameters parameters;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    Parameters found;
    bool same = true;
    for (std::size_t at = 0; at < segments.size() && same; ++at) {
      const auto& want = route.segments[at];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        if (segments[at].empty()) same = false;
        else found.push_back(segments[at]);
      } else {
        same = want == segments[at];
      }
    }
    if (!same) continue;
    path_exists = true;
    if (route.method == request.method) {
      matched = &route;
      parameters = std::move(found);
      break;
    }
  }
  if (matched == nullptr) {
    return path_exists ? api_error_response(405, api_error::kMethodNotAllowed,
                                            fmt::format("{} is not allowed on {}", request.method, path))
                       : api_error_response(404, api_error::kNotFound, fmt::format("nothing at {}", path));
  }
  if (std::find(matched->roles.begin(), matched->roles.end(), staff.role) == matched->roles.end()) {
    return api_error_response(403, api_error::kForbidden,
                              fmt::format("the {} role may not {} {}", to_string(staff.role), request.method, path));
  }
  if (is_change(request.method)) {
    // Browsers attach the staff certificate to any request to the broker: a change must come
    // from the broker's own page (or a non-browser client, which sends no Origin).
    if ((!request.origin.empty() && request.origin != "https://" + request.host) || request.fetch_site == "cross-site") {
      return api_error_response(403, api_error::kCrossOrigin, "changes are accepted only from the broker's own pages");
    }
    const auto type = std::string_view(request.content_type).substr(0, request.content_type.find(';'));
    if (type != "application/json") {
      return api_error_response(415, api_error::kUnsupportedMediaType, "a change needs Content-Type: application/json");
    }
  } else if (mark != std::string_view::npos && path != "/api/v1/audit") {
    return bad_request(fmt::format("{} takes no query parameters", path));
  }
  return matched->handler(staff, request, parameters);
}

Json ApiRoutes::state_json() {
  auto& store = *config_.store;
  std::map<std::string, std::string> site_of_box;
  const auto tunnels = config_.live->tunnels();
  const auto views = config_.live->views();
  Json boxes = Json::array();
  if (auto all = store.boxes()) {
    for (const auto& box : *all) {
      site_of_box[box.name] = box.site;
      const auto live = std::find_if(tunnels.begin(), tunnels.end(), [&](const LiveTunnel& tunnel) { return tunnel.box == box.name; });
      const bool online = live != tunnels.end();
      // The stored record, and what the live tunnel knows that the store does not.
      auto entry = to_json(box);
      entry["online"] = online;
      if (online) entry["last_seen"] = format_time(live->last_seen);
      entry["peer"] = online ? Json(live->peer) : Json(nullptr);
      boxes.push_back(std::move(entry));
    }
  }
  Json sessions = Json::array();
  if (auto all = store.active_sessions()) {
    for (const auto& session : *all) {
      const auto view = std::find_if(views.begin(), views.end(), [&](const LiveView& live) { return live.session == session.id; });
      const bool connected = view != views.end();
      const std::string box = connected ? view->box : session.box;
      sessions.push_back({{"id", session.id},
                          {"user", session.user},
                          {"box", box},
                          {"site", site_of_box.count(box) > 0 ? site_of_box[box] : std::string()},
                          {"project", session.project},
                          {"state", connected ? "connected" : "disconnected"},
                          {"since", format_time(session.started_at)},
                          {"connected_since", connected ? Json(format_time(view->since)) : Json(nullptr)}});
    }
  }
  Json alerts = Json::array();
  for (const auto& alert : config_.alerts->alerts()) alerts.push_back(alert_json(alert));
  return {{"sessions", sessions}, {"boxes", boxes}, {"alerts", alerts}};
}

}  // namespace sdbox::broker
