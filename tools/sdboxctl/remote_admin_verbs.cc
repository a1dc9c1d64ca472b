#include "remote_admin_verbs.hpp"

#include "output_files.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/crypto.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace sdbox::ctl {

namespace {

using broker::StoreFailure;
using Json = nlohmann::json;

Error unexpected_answer(std::string_view what) {
  return make_error(ErrorCategory::io, fmt::format("the broker's answer to {} is not what the API promises", what));
}

bool has_string(const Json& object, const char* key) {
  return object.is_object() && object.contains(key) && (*object.find(key)).is_string();
}

/// A field of an answer, or null: the broker's answer is checked, never trusted to have a shape.
Json member(const Json& object, const char* key) {
  if (!object.is_object()) return Json();
  const auto found = object.find(key);
  return found == object.end() ? Json() : *found;
}

bool flag(const Json& object, const char* key) {
  const Json value = member(object, key);
  return value.is_boolean() && value.get<bool>();
}

std::string string_of(const Json& object, const char* key) {
  return has_string(object, key) ? object.find(key)->get<std::string>() : std::string();
}

/// The API keeps "why" for every change of state; sdboxctl makes --reason optional for cards.
Status require_reason(const std::string& reason, std::string_view verb) {
  if (!reason.empty()) return {};
  return make_error(ErrorCategory::usage,
                    fmt::format("'{}' through the broker needs --reason (the broker records why)", verb));
}

std::int64_t whole_days(std::chrono::hours validity) { return std::max<std::int64_t>(1, validity.count() / 24); }

}  // namespace

std::string path_segment(std::string_view text) {
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      encoded += c;
    } else {
      encoded += fmt::format("%{:02X}", byte);
    }
  }
  return encoded;
}

RemoteAdminVerbs RemoteAdminVerbs::create(Config config) {
  if (!config.call || config.out == nullptr) throw std::invalid_argument("RemoteAdminVerbs needs an API call and an output");
  return RemoteAdminVerbs(std::move(config));
}

RemoteAdminVerbs::RemoteAdminVerbs(Config config) : call_(std::move(config.call)), out_(*config.out) {}

Result<Json> RemoteAdminVerbs::call(std::string_view method, std::string_view target,
                                    const std::optional<Json>& body) const {
  return call_(method, target, body);
}

Status RemoteAdminVerbs::print(std::string_view collection, OutputFormat format, const Columns& columns) const {
  auto records = call("GET", fmt::format("/api/v1/{}", collection));
  if (!records) return records.error();
  return print_listing(out_, format, *records, columns);
}

Result<Json> RemoteAdminVerbs::user(const std::string& login) const {
  auto users = call("GET", "/api/v1/users");
  if (!users) return users.error();
  if (!users->is_array()) return unexpected_answer("GET /api/v1/users");
  const auto found = std::find_if(users->begin(), users->end(),
                                  [&](const Json& user) { return string_of(user, "login") == login; });
  if (found == users->end()) return store_error(StoreFailure::not_found, fmt::format("no user '{}'", login));
  return *found;
}

Status RemoteAdminVerbs::add_site(const std::string& name) {
  auto added = call("POST", "/api/v1/sites", Json{{"name", name}});
  if (!added) return added.error();
  out_ << confirmation::site_added(*added);
  return {};
}

Status RemoteAdminVerbs::list_sites(OutputFormat format) { return print("sites", format, columns::sites()); }

Status RemoteAdminVerbs::add_box(const NewBox& box) {
  if (box.name.empty()) return make_error(ErrorCategory::usage, "the box needs a name");
  if (auto empty = require_empty_or_absent(box.bundle_directory, "the bundle directory"); !empty) return empty;
  auto added = call("POST", "/api/v1/boxes",
                    Json{{"name", box.name}, {"site", box.site}, {"validity_days", whole_days(box.validity)}});
  if (!added) return added.error();
  const Json record = member(*added, "box");
  const Json bundle = member(*added, "bundle");
  if (!record.is_object() || !has_string(bundle, "client_crt") || !has_string(bundle, "client_key") ||
      !has_string(bundle, "broker_ca_crt")) {
    return unexpected_answer("box add");
  }
  const BundlePem pem{bundle["client_crt"].get<std::string>(), bundle["client_key"].get<std::string>(),
                      bundle["broker_ca_crt"].get<std::string>()};
  auto certificate = crypto::certificate_from_pem(pem.client_certificate);
  UndoOnFailure undo;
  undo.directory_to_fill(box.bundle_directory);
  Status written = certificate ? write_bundle(box.bundle_directory, pem) : Status(certificate.error());
  if (!written) {
    // The broker has registered the box already: say so, or its name would look free to retry.
    return make_error(written.error().category,
                      fmt::format("box '{}' is registered at the broker, but its bundle was not written to {}: {}; "
                                  "revoke it with 'sdboxctl box revoke' and add the box under another name",
                                  box.name, box.bundle_directory.string(), describe_for_admin(written.error())),
                      written.error().code);
  }
  undo.keep();
  out_ << confirmation::box_added(record, crypto::certificate_not_after(**certificate), box.bundle_directory);
  return {};
}

Status RemoteAdminVerbs::list_boxes(OutputFormat format) { return print("boxes", format, columns::boxes()); }

Status RemoteAdminVerbs::revoke_box(const std::string& name, const std::string& reason) {
  auto revoked = call("POST", fmt::format("/api/v1/boxes/{}/revoke", path_segment(name)), Json{{"reason", reason}});
  if (!revoked) return revoked.error();
  out_ << "box '" << string_of(*revoked, "name") << "' revoked; the broker closed its tunnel and rewrote boxes.crl\n";
  return {};
}

Status RemoteAdminVerbs::add_user(const std::string& login, const std::string& full_name) {
  if (full_name.empty()) return make_error(ErrorCategory::usage, "the user needs a full name (--name)");
  auto added = call("POST", "/api/v1/users", Json{{"login", login}, {"full_name", full_name}});
  if (!added) return added.error();
  out_ << confirmation::user_added(*added);
  return {};
}

Status RemoteAdminVerbs::list_users(OutputFormat format) { return print("users", format, columns::users()); }

Status RemoteAdminVerbs::issue_card(CardIssue issue, const CardPersonaliser& personalise,
                                    const SecretReader& read_secret) {
  // The user first: a card personalised for nobody would be wasted (and its PIN set for nothing).
  auto user = this->user(issue.login);
  if (!user) return user.error();
  const std::string full_name = string_of(*user, "full_name");
  auto profile = card_profile_for(full_name, issue, read_secret);
  if (!profile) return profile.error();

  std::optional<Json> registered;
  const CertificateIssuer issue_at_broker = [&](const EVP_PKEY& card_public_key,
                                                const CardProfile& wanted) -> Result<crypto::Certificate> {
    auto point = crypto::ec_public_point(card_public_key);
    if (!point) return point.error();
    auto answer = call("POST", "/api/v1/cards",
                       Json{{"user", issue.login},
                            {"public_point_hex", to_hex(*point)},
                            {"validity_days", whole_days(wanted.validity)}});
    if (!answer) return answer.error();
    if (!answer->is_object() || !member(*answer, "card").is_object() || !has_string(*answer, "certificate_pem")) {
      return unexpected_answer("card issue");
    }
    registered = (*answer)["card"];
    return crypto::certificate_from_pem((*answer)["certificate_pem"].get<std::string>());
  };
  auto personalised = personalise(issue.reader_prefix, issue_at_broker, *profile);
  secure_wipe(profile->new_pin);
  secure_wipe(profile->new_puk);
  if (!personalised && registered) {
    // The broker registers the card when it certifies the key, before the card is finished.
    const auto serial = string_of(*registered, "certificate_serial");
    return make_error(personalised.error().category,
                      fmt::format("the broker registered the card (certificate serial {}), but personalising it "
                                  "failed: {}; revoke it with 'sdboxctl card revoke --serial {}' and issue the card "
                                  "again",
                                  serial, describe_for_admin(personalised.error()), serial),
                      personalised.error().code);
  }
  if (!personalised) return personalised.error();
  if (!registered) return make_error(ErrorCategory::internal, "the card was personalised without the broker's certificate");
  auto certificate = crypto::certificate_from_der(personalised->certificate_der);
  if (!certificate) return certificate.error();
  out_ << confirmation::card_issued(*registered, full_name, crypto::certificate_not_after(**certificate));
  return {};
}

Status RemoteAdminVerbs::list_cards(OutputFormat format) { return print("cards", format, columns::cards()); }

Status RemoteAdminVerbs::set_card_state(const CardChoice& choice, broker::CardState state, const std::string& reason) {
  if (choice.certificate_serial.empty() == choice.login.empty()) {
    return make_error(ErrorCategory::usage, "name the card with --serial HEX or with --user LOGIN (one of them)");
  }
  const char* verb = state == broker::CardState::active      ? "reinstate"
                     : state == broker::CardState::suspended ? "suspend"
                                                             : "revoke";
  if (auto given = require_reason(reason, fmt::format("card {}", verb)); !given) return given;
  std::string serial;
  if (!choice.certificate_serial.empty()) {
    auto normalised = broker::normalise_serial(choice.certificate_serial);
    if (!normalised) return normalised.error();
    serial = *normalised;
  } else {
    if (auto user = this->user(choice.login); !user) return user.error();
    auto cards = call("GET", "/api/v1/cards");
    if (!cards) return cards.error();
    if (!cards->is_array()) return unexpected_answer("GET /api/v1/cards");
    auto only = only_card_of(choice.login, *cards);
    if (!only) return only.error();
    serial = *only;
  }
  auto changed = call("POST", fmt::format("/api/v1/cards/{}/{}", path_segment(serial), verb), Json{{"reason", reason}});
  if (!changed) return changed.error();
  out_ << confirmation::card_state_changed(*changed);
  return {};
}

Status RemoteAdminVerbs::add_project(const std::string& name, const std::string& title) {
  auto added = call("POST", "/api/v1/projects", Json{{"name", name}, {"title", title}});
  if (!added) return added.error();
  out_ << confirmation::project_added(*added);
  return {};
}

Status RemoteAdminVerbs::list_projects(OutputFormat format) { return print("projects", format, columns::projects()); }

Status RemoteAdminVerbs::add_member(const std::string& login, const std::string& project, const std::string& from,
                                    const std::string& until) {
  auto first_day = broker::parse_day(from);
  if (!first_day) return first_day.error();
  auto last_day = broker::parse_day(until);
  if (!last_day) return last_day.error();
  // The API answers a broken rule like a malformed body (400); locally it is a refusal (exit 1).
  if (*last_day < *first_day) {
    return store_error(StoreFailure::invalid, fmt::format("the membership ends ({}) before it starts ({})",
                                                          broker::format_day(*last_day), broker::format_day(*first_day)));
  }
  auto added = call("POST", "/api/v1/memberships",
                    Json{{"user", login},
                         {"project", project},
                         {"from", broker::format_day(*first_day)},
                         {"until", broker::format_day(*last_day)}});
  if (!added) return added.error();
  out_ << confirmation::member_added(*added);
  return {};
}

Status RemoteAdminVerbs::list_members(OutputFormat format) {
  return print("memberships", format, columns::memberships());
}

Status RemoteAdminVerbs::end_member(std::int64_t id, const std::string& reason) {
  auto ended = call("POST", fmt::format("/api/v1/memberships/{}/end", id), Json{{"reason", reason}});
  if (!ended) return ended.error();
  out_ << confirmation::member_ended(*ended);
  return {};
}

Status RemoteAdminVerbs::set_desktop(const std::string& project, const std::string& host, std::uint16_t port,
                                     const std::string& certificate_sha256, const std::string& logoff_endpoint) {
  if (host.empty()) return make_error(ErrorCategory::usage, "the desktop needs a host");
  if (port == 0) return make_error(ErrorCategory::usage, "the desktop's port must be between 1 and 65535");
  auto pinned = normalise_certificate_sha256(certificate_sha256);
  if (!pinned) return pinned.error();
  Json body{{"host", host}, {"port", port}};
  if (!pinned->empty()) body["certificate_sha256"] = *pinned;
  if (!logoff_endpoint.empty()) body["logoff_endpoint"] = logoff_endpoint;
  auto set = call("PUT", fmt::format("/api/v1/desktops/{}", path_segment(project)), body);
  if (!set) return set.error();
  out_ << confirmation::desktop_set(*set);
  return {};
}

Status RemoteAdminVerbs::set_desktop_account(const std::string& project, const std::string& user,
                                             const std::string& login, const std::filesystem::path& password_file) {
  auto secret = read_password_file(password_file);
  if (!secret) return secret.error();
  Json body{{"login", login.empty() ? user : login}, {"password", *secret}};
  secure_wipe(*secret);
  auto set = call("PUT", fmt::format("/api/v1/desktops/{}/accounts/{}", path_segment(project), path_segment(user)), body);
  secure_wipe(body["password"].get_ref<std::string&>());
  if (!set) return set.error();
  out_ << confirmation::desktop_account_set(*set);
  return {};
}

Status RemoteAdminVerbs::list_desktops(OutputFormat format) { return print("desktops", format, columns::desktops()); }

Status RemoteAdminVerbs::list_sessions(OutputFormat format) {
  return print("sessions", format, columns::live_sessions());
}

Status RemoteAdminVerbs::end_session(std::int64_t id, const std::string& reason) {
  auto ended = call("POST", fmt::format("/api/v1/sessions/{}/end", id), Json{{"reason", reason}});
  if (!ended) return ended.error();
  out_ << fmt::format("session {} of '{}' in '{}' ended", id, string_of(*ended, "user"), string_of(*ended, "project"));
  if (flag(*ended, "was_connected")) out_ << fmt::format("; its view on '{}' closed", string_of(*ended, "box"));
  out_ << (flag(*ended, "logged_off")
               ? "; the desktop session was logged off\n"
               : "; the desktop session was NOT logged off (see desktop.logoff in the audit trail)\n");
  return {};
}

Status RemoteAdminVerbs::list_alerts(OutputFormat format) { return print("alerts", format, columns::alerts()); }

Status RemoteAdminVerbs::add_staff(const NewStaff& /*staff*/) { return broker_host_only("staff add", only_here::ca_keys); }

Status RemoteAdminVerbs::list_staff(OutputFormat /*format*/) {
  return broker_host_only("staff list", only_here::staff);
}

Status RemoteAdminVerbs::revoke_staff(const std::string& /*name*/, const std::string& /*reason*/) {
  return broker_host_only("staff revoke", only_here::staff);
}

Status RemoteAdminVerbs::list_audit(const broker::AuditQuery& query, OutputFormat format) {
  // The API answers at most audit_page records at a time: page on from the last one received.
  Json records = Json::array();
  std::int64_t after = query.after_sequence;
  std::size_t remaining = query.limit;
  while (remaining > 0) {
    const std::size_t page = std::min(remaining, audit_page);
    std::string target = fmt::format("/api/v1/audit?after={}&limit={}", after, page);
    if (!query.action_prefix.empty()) target += "&action=" + path_segment(query.action_prefix);
    auto answer = call("GET", target);
    if (!answer) return answer.error();
    if (!answer->is_array() || answer->size() > page ||
        std::any_of(answer->begin(), answer->end(), [](const Json& record) {
          return !record.is_object() || !member(record, "sequence").is_number_integer();
        })) {
      return unexpected_answer("GET /api/v1/audit");
    }
    for (auto& record : *answer) records.push_back(std::move(record));
    if (answer->size() < page) break;
    remaining -= page;
    after = records.back()["sequence"].get<std::int64_t>();
  }
  return print_listing(out_, format, records, columns::audit());
}

Result<bool> RemoteAdminVerbs::verify_audit(OutputFormat format) {
  auto verdict = call("GET", "/api/v1/audit/verify");
  if (!verdict) return verdict.error();
  return print_audit_verdict(out_, format, *verdict);
}

Status RemoteAdminVerbs::refresh_crls() { return broker_host_only("pki refresh-crl", only_here::ca_keys); }

}  // namespace sdbox::ctl
