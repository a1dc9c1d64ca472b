#include "admin_verbs.hpp"

#include "output_files.hpp"

#include "pki/crl_publisher.hpp"
#include "store/store_json.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/crypto.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <tuple>

namespace sdbox::ctl {

namespace {

using broker::StoreFailure;
using Json = nlohmann::json;
using Authority = broker::Pki::Authority;

Result<std::string> ca_fingerprint(const broker::Pki& pki, Authority authority) {
  auto certificate = crypto::certificate_from_pem_file(pki.ca_certificate(authority));
  if (!certificate) return certificate.error();
  return crypto::certificate_fingerprint(**certificate);
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string joined;
  for (const auto& part : parts) {
    if (!joined.empty()) joined += separator;
    joined += part;
  }
  return joined;
}

/// An integer field of a record from the store or the broker's answer; 0 when absent or not one.
std::int64_t integer_field(const Json& record, const char* key) {
  if (!record.is_object()) return 0;
  const auto found = record.find(key);
  return found != record.end() && found->is_number_integer() ? found->get<std::int64_t>() : 0;
}

std::string text_field(const Json& record, const char* key) {
  const auto found = record.find(key);
  return found != record.end() && found->is_string() ? found->get<std::string>() : std::string();
}

std::string day_of(std::chrono::system_clock::time_point time) {
  return broker::format_day(std::chrono::floor<std::chrono::days>(time));
}

}  // namespace

Error broker_host_only(std::string_view verb, std::string_view why) {
  return make_error(ErrorCategory::usage,
                    fmt::format("'{}' runs on the broker host only ({}): run it there with --state, without --broker",
                                verb, why));
}

Error needs_broker(std::string_view verb, std::string_view why) {
  return make_error(ErrorCategory::usage, fmt::format("'{}' needs --broker: {}", verb, why));
}

namespace confirmation {

std::string site_added(const Json& site) { return fmt::format("site '{}' added\n", text_field(site, "name")); }

std::string box_added(const Json& box, std::chrono::system_clock::time_point not_after,
                      const std::filesystem::path& bundle_directory) {
  return fmt::format(
      "box '{}' added at site '{}': certificate serial {}, valid until {}\n"
      "bundle in {}: client.crt, client.key (secret: copy it onto the box only), broker-ca.crt\n",
      text_field(box, "name"), text_field(box, "site"), text_field(box, "certificate_serial"), day_of(not_after),
      bundle_directory.string());
}

std::string user_added(const Json& user) {
  return fmt::format("user '{}' ({}) added\n", text_field(user, "login"), text_field(user, "full_name"));
}

std::string card_issued(const Json& card, const std::string& full_name, std::chrono::system_clock::time_point not_after) {
  return fmt::format("card issued to '{}' ({}): certificate serial {}, valid until {}\n", text_field(card, "user"),
                     full_name, text_field(card, "certificate_serial"), day_of(not_after));
}

std::string card_state_changed(const Json& card) {
  return fmt::format("card {} of '{}' is now {}\n", text_field(card, "certificate_serial"), text_field(card, "user"),
                     text_field(card, "state"));
}

std::string project_added(const Json& project) {
  return fmt::format("project '{}' ({}) added\n", text_field(project, "name"), text_field(project, "title"));
}

std::string member_added(const Json& membership) {
  return fmt::format("'{}' is a member of '{}' from {} until {} (both days included)\n", text_field(membership, "user"),
                     text_field(membership, "project"), text_field(membership, "from"), text_field(membership, "until"));
}

std::string member_ended(const Json& membership) {
  return fmt::format("membership {} of '{}' in '{}' ended\n", integer_field(membership, "id"),
                     text_field(membership, "user"), text_field(membership, "project"));
}

std::string desktop_set(const Json& desktop) {
  return fmt::format("desktop of '{}': {}:{}{}\n", text_field(desktop, "project"), text_field(desktop, "host"),
                     integer_field(desktop, "port"),
                     text_field(desktop, "certificate_sha256").empty() ? " (any certificate)" : " (certificate pinned)");
}

std::string desktop_account_set(const Json& account) {
  return fmt::format("desktop account of '{}' on '{}': {}\n", text_field(account, "user"), text_field(account, "project"),
                     text_field(account, "login"));
}

}  // namespace confirmation

Result<std::string> only_card_of(const std::string& login, const Json& cards) {
  std::vector<std::string> candidates;
  for (const auto& card : cards) {
    if (text_field(card, "user") == login && text_field(card, "state") != broker::to_string(broker::CardState::revoked)) {
      candidates.push_back(text_field(card, "certificate_serial"));
    }
  }
  if (candidates.empty()) {
    return store_error(StoreFailure::not_found, fmt::format("user '{}' has no card that is not revoked", login));
  }
  if (candidates.size() > 1) {
    return store_error(StoreFailure::conflict,
                       fmt::format("user '{}' has {} cards that are not revoked ({}): choose one with --serial", login,
                                   candidates.size(), join(candidates, ", ")));
  }
  return candidates.front();
}

Result<std::string> normalise_certificate_sha256(const std::string& text) {
  if (text.empty()) return std::string();
  Bytes digest;
  if (!from_hex(text, digest) || digest.size() != 32) {
    return make_error(ErrorCategory::usage, "--certificate-sha256 is not a SHA-256 in hex (64 digits, colons allowed)");
  }
  return to_hex(digest);
}

Result<CardProfile> card_profile_for(const std::string& holder_name, AdminActions::CardIssue& issue,
                                     const SecretReader& read_secret) {
  CardProfile profile;
  profile.holder_name = holder_name;
  profile.current_pin = issue.current_pin;
  profile.current_puk = issue.current_puk;
  profile.management_key = issue.management_key;
  profile.validity = issue.validity;
  for (auto [given, wanted, prompt] : {std::tuple{&issue.new_pin, &profile.new_pin, "new PIN: "},
                                       std::tuple{&issue.new_puk, &profile.new_puk, "new PUK: "}}) {
    if (!given->empty()) {
      *wanted = *given;
      secure_wipe(*given);
      continue;
    }
    auto asked = read_secret(prompt);
    if (!asked) {
      secure_wipe(profile.new_pin);
      return asked.error();
    }
    *wanted = std::move(*asked);
  }
  return profile;
}

Result<std::string> read_password_file(const std::filesystem::path& password_file) {
  std::string secret;
  if (password_file == "-") {
    std::getline(std::cin, secret);
  } else {
    std::ifstream in(password_file);
    if (!in) return make_error(ErrorCategory::usage, "cannot read --password-file " + password_file.string());
    std::getline(in, secret);
  }
  if (secret.empty()) return make_error(ErrorCategory::usage, "the desktop password is empty");
  return secret;
}

int exit_status_for(const Error& error) {
  switch (error.category) {
    case ErrorCategory::usage: return exit_status::usage;
    case ErrorCategory::broker:
      return is_store_failure(error, StoreFailure::storage) ? exit_status::failed : exit_status::refused;
    case ErrorCategory::card: return exit_status::refused;
    default: return exit_status::failed;
  }
}

std::string describe_for_admin(const Error& error) {
  if (error.category == ErrorCategory::usage || error.category == ErrorCategory::broker ||
      error.category == ErrorCategory::config) {
    return error.message;
  }
  return error.describe();
}

std::string local_actor() {
  const uid_t uid = geteuid();
  const passwd* entry = getpwuid(uid);
  if (entry != nullptr && entry->pw_name != nullptr) return fmt::format("local:{}", entry->pw_name);
  return fmt::format("local:uid{}", uid);  // a uid with no passwd entry (a bare container) is still someone
}


// ---- pki init ----

Status init_pki(const PkiInitConfig& config, const std::vector<std::string>& server_names) {
  if (config.clock == nullptr || config.out == nullptr || !config.open_store) {
    throw std::invalid_argument("init_pki needs a clock, an output and a store opener");
  }
  const broker::Pki pki(config.state.pki());
  // CAs are never replaced: a second init would orphan every certificate issued so far.
  if (std::filesystem::exists(pki.directory()) &&
      (!std::filesystem::is_directory(pki.directory()) || !std::filesystem::is_empty(pki.directory()))) {
    return store_error(StoreFailure::conflict,
                       fmt::format("{} already holds a PKI; it is never replaced", pki.directory().string()));
  }
  // Declared before the store, so the store is closed before its files are removed.
  UndoOnFailure undo;
  // An existing state directory may hold a store already: only what this run creates goes.
  if (!std::filesystem::exists(config.state.directory)) undo.directory_to_fill(config.state.directory);
  undo.directory_to_fill(pki.directory());
  if (auto made = make_private_directory(config.state.directory); !made) return made;

  const bool store_existed = std::filesystem::exists(config.state.database());
  if (!store_existed) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      undo.file_to_create(config.state.database().string() + suffix);
    }
  }
  auto store = config.open_store(config.state.database(), true);
  if (!store) return store.error();

  broker::Pki::InitOptions options;
  options.server_names = server_names;
  if (auto made = pki.init(options); !made) return made;

  broker::AuditEvent event{config.actor, "pki.init", "ok",
                           {{"directory", pki.directory().string()}, {"server_names", join(server_names, ",")}}};
  for (const auto& [authority, key] : {std::pair{Authority::boxes, "boxes_ca_sha256"},
                                       std::pair{Authority::users, "users_ca_sha256"},
                                       std::pair{Authority::staff, "staff_ca_sha256"}}) {
    auto fingerprint = ca_fingerprint(pki, authority);
    if (!fingerprint) return fingerprint.error();
    event.details[key] = *fingerprint;
  }
  if (auto recorded = (*store)->audit(event); !recorded) return recorded.error();
  undo.keep();
  *config.out << "PKI created in " << pki.directory().string()
              << ": boxes, users and staff CAs, server certificate for "
              << join(server_names, ", ") << ", empty CRLs; store " << config.state.database().string() << "\n";
  return {};
}

// ---- the other verbs ----

AdminVerbs AdminVerbs::create(Config config) {
  if (config.store == nullptr || config.clock == nullptr || config.out == nullptr) {
    throw std::invalid_argument("AdminVerbs needs a store, a clock and an output");
  }
  return AdminVerbs(std::move(config));
}

AdminVerbs::AdminVerbs(Config config)
    : store_(*config.store),
      pki_(std::move(config.pki_directory)),
      clock_(*config.clock),
      actor_(std::move(config.actor)),
      out_(*config.out) {}

namespace {

/// A store listing printed through the shared printer, from the records' JSON form.
template <class Record>
Status print_records(std::ostream& out, OutputFormat format, const Result<std::vector<Record>>& records,
                     const Columns& columns) {
  if (!records) return records.error();
  return print_listing(out, format, broker::to_json_array(*records), columns);
}

}  // namespace

Status AdminVerbs::add_site(const std::string& name) {
  auto added = store_.add_site(name, actor_);
  if (!added) return added.error();
  out_ << confirmation::site_added(broker::to_json(*added));
  return {};
}

Status AdminVerbs::list_sites(OutputFormat format) {
  return print_records(out_, format, store_.sites(), columns::sites());
}

Status AdminVerbs::add_box(const NewBox& box) {
  if (box.name.empty()) return make_error(ErrorCategory::usage, "the box needs a name");
  // Everything the store would refuse is checked before a certificate is issued.
  auto sites = store_.sites();
  if (!sites) return sites.error();
  if (std::none_of(sites->begin(), sites->end(), [&](const broker::Site& site) { return site.name == box.site; })) {
    return store_error(StoreFailure::not_found, fmt::format("no site named '{}'", box.site));
  }
  if (auto existing = store_.box(box.name); existing) {
    return store_error(StoreFailure::conflict, fmt::format("a box named '{}' exists already", box.name));
  } else if (!is_store_failure(existing.error(), StoreFailure::not_found)) {
    return existing.error();
  }
  if (auto empty = require_empty_or_absent(box.bundle_directory, "the bundle directory"); !empty) return empty;

  UndoOnFailure undo;
  undo.directory_to_fill(box.bundle_directory);
  auto bundle = pki_.issue_client_bundle(Authority::boxes, box.name, box.bundle_directory, box.validity);
  if (!bundle) return bundle.error();
  broker::Box record;
  record.name = box.name;
  record.site = box.site;
  record.certificate_serial = bundle->serial_hex;
  record.certificate_sha256 = bundle->sha256_hex;
  auto added = store_.add_box(record, actor_);
  if (!added) return added.error();
  undo.keep();
  out_ << confirmation::box_added(broker::to_json(*added), bundle->not_after, bundle->directory);
  return {};
}

Status AdminVerbs::list_boxes(OutputFormat format) {
  return print_records(out_, format, store_.boxes(), columns::boxes());
}

Result<std::size_t> AdminVerbs::rewrite_crl(Authority authority) {
  return broker::publish_crl(pki_, store_, authority);
}

Status AdminVerbs::revoke_box(const std::string& name, const std::string& reason) {
  auto revoked = store_.revoke_box(name, reason, actor_);
  if (!revoked) return revoked.error();
  // The store already refuses the box (the broker checks it on every tunnel); the CRL makes the
  // TLS handshake refuse it too.
  auto listed = rewrite_crl(Authority::boxes);
  if (!listed) {
    return make_error(listed.error().category,
                      fmt::format("box '{}' is revoked in the store, but {} was not rewritten: {}; "
                                  "run 'sdboxctl pki refresh-crl' once that is fixed",
                                  name, pki_.crl(Authority::boxes).string(), describe_for_admin(listed.error())),
                      listed.error().code);
  }
  out_ << "box '" << name << "' revoked; " << pki_.crl(Authority::boxes).string() << " lists " << *listed
       << " certificate(s)\n";
  return {};
}

Status AdminVerbs::add_user(const std::string& login, const std::string& full_name) {
  if (full_name.empty()) return make_error(ErrorCategory::usage, "the user needs a full name (--name)");
  broker::User user;
  user.login = login;
  user.full_name = full_name;
  auto added = store_.add_user(user, actor_);
  if (!added) return added.error();
  out_ << confirmation::user_added(broker::to_json(*added));
  return {};
}

Status AdminVerbs::list_users(OutputFormat format) {
  return print_records(out_, format, store_.users(), columns::users());
}

Status AdminVerbs::issue_card(CardIssue issue, const CardPersonaliser& personalise, const SecretReader& read_secret) {
  // The user and the CA first: a card personalised for nobody would be wasted (and its PIN set
  // for nothing).
  auto user = store_.user(issue.login);
  if (!user) return user.error();
  auto issuer = issuer_from_ca(CaDirectory{pki_.ca_directory(Authority::users)});
  if (!issuer) return issuer.error();
  auto profile = card_profile_for(user->full_name, issue, read_secret);
  if (!profile) return profile.error();
  auto personalised = personalise(issue.reader_prefix, *issuer, *profile);
  secure_wipe(profile->new_pin);
  secure_wipe(profile->new_puk);
  if (!personalised) return personalised.error();

  auto certificate = crypto::certificate_from_der(personalised->certificate_der);
  if (!certificate) return certificate.error();
  auto fingerprint = crypto::certificate_fingerprint(**certificate);
  if (!fingerprint) return fingerprint.error();
  broker::Card card;
  card.user = user->login;
  card.certificate_serial = crypto::certificate_serial_hex(**certificate);
  card.certificate_sha256 = *fingerprint;
  card.enrolled_at = clock_.now();
  auto added = store_.add_card(card, actor_);
  if (!added) {
    // The card cannot be un-personalised; say so, so nobody hands out an unregistered card.
    return make_error(added.error().category,
                      fmt::format("the card was personalised (certificate serial {}) but not registered: {}; "
                                  "the broker will refuse it until it is issued again",
                                  card.certificate_serial, describe_for_admin(added.error())),
                      added.error().code);
  }
  out_ << confirmation::card_issued(broker::to_json(*added), user->full_name,
                                    crypto::certificate_not_after(**certificate));
  return {};
}

Status AdminVerbs::list_cards(OutputFormat format) {
  return print_records(out_, format, store_.cards(), columns::cards());
}

Result<std::string> AdminVerbs::chosen_card_serial(const CardChoice& choice) {
  if (choice.certificate_serial.empty() == choice.login.empty()) {
    return make_error(ErrorCategory::usage, "name the card with --serial HEX or with --user LOGIN (one of them)");
  }
  if (!choice.certificate_serial.empty()) {
    auto serial = broker::normalise_serial(choice.certificate_serial);
    if (!serial) return serial.error();
    auto card = store_.card_by_serial(*serial);
    if (!card) return card.error();
    return *serial;
  }
  if (auto user = store_.user(choice.login); !user) return user.error();
  auto cards = store_.cards();
  if (!cards) return cards.error();
  return only_card_of(choice.login, broker::to_json_array(*cards));
}

Status AdminVerbs::set_card_state(const CardChoice& choice, broker::CardState state, const std::string& reason) {
  auto serial = chosen_card_serial(choice);
  if (!serial) return serial.error();
  auto changed = store_.set_card_state(*serial, state, reason, actor_);
  if (!changed) return changed.error();
  out_ << confirmation::card_state_changed(broker::to_json(*changed));
  if (state != broker::CardState::revoked) return {};
  // Suspension lives only in the store (it is reversible); revocation also goes to the CRL so
  // every verifier of the users CA refuses the certificate, not only this broker.
  auto listed = rewrite_crl(Authority::users);
  if (!listed) {
    return make_error(listed.error().category,
                      fmt::format("card {} is revoked in the store, but {} was not rewritten: {}; "
                                  "run 'sdboxctl pki refresh-crl' once that is fixed",
                                  *serial, pki_.crl(Authority::users).string(), describe_for_admin(listed.error())),
                      listed.error().code);
  }
  out_ << pki_.crl(Authority::users).string() << " lists " << *listed << " certificate(s)\n";
  return {};
}

Status AdminVerbs::add_project(const std::string& name, const std::string& title) {
  broker::Project project;
  project.name = name;
  project.title = title;
  auto added = store_.add_project(project, actor_);
  if (!added) return added.error();
  out_ << confirmation::project_added(broker::to_json(*added));
  return {};
}

Status AdminVerbs::list_projects(OutputFormat format) {
  return print_records(out_, format, store_.projects(), columns::projects());
}

Status AdminVerbs::add_member(const std::string& login, const std::string& project, const std::string& from,
                              const std::string& until) {
  auto first_day = broker::parse_day(from);
  if (!first_day) return first_day.error();
  auto last_day = broker::parse_day(until);
  if (!last_day) return last_day.error();
  broker::Membership membership;
  membership.user = login;
  membership.project = project;
  membership.from = *first_day;
  membership.until = *last_day;
  auto added = store_.add_membership(membership, actor_);
  if (!added) return added.error();
  out_ << confirmation::member_added(broker::to_json(*added));
  return {};
}

Status AdminVerbs::list_members(OutputFormat format) {
  return print_records(out_, format, store_.memberships(), columns::memberships());
}

Status AdminVerbs::end_member(std::int64_t id, const std::string& reason) {
  auto ended = store_.end_membership(id, reason, actor_);
  if (!ended) return ended.error();
  out_ << confirmation::member_ended(broker::to_json(*ended));
  return {};
}

Status AdminVerbs::add_staff(const NewStaff& staff) {
  if (staff.name.empty()) return make_error(ErrorCategory::usage, "the member of staff needs a name");
  if (auto existing = store_.staff(); !existing) {
    return existing.error();
  } else if (std::any_of(existing->begin(), existing->end(), [&](const broker::StaffMember& member) { return member.name == staff.name; })) {
    return store_error(StoreFailure::conflict, fmt::format("a member of staff named '{}' exists already", staff.name));
  }
  if (auto empty = require_empty_or_absent(staff.bundle_directory, "the bundle directory"); !empty) return empty;
  UndoOnFailure undo;
  undo.directory_to_fill(staff.bundle_directory);
  auto bundle = pki_.issue_client_bundle(Authority::staff, staff.name, staff.bundle_directory, staff.validity);
  if (!bundle) return bundle.error();
  broker::StaffMember member;
  member.name = staff.name;
  member.role = staff.role;
  member.certificate_serial = bundle->serial_hex;
  member.certificate_sha256 = bundle->sha256_hex;
  auto added = store_.add_staff(member, actor_);
  if (!added) return added.error();
  undo.keep();
  out_ << "staff '" << added->name << "' added as " << broker::to_string(added->role) << ": certificate serial "
       << added->certificate_serial << ", valid until " << day_of(bundle->not_after) << "\n"
       << "bundle in " << bundle->directory.string() << " (client.crt, client.key, broker-ca.crt): give it to them only\n";
  return {};
}

Status AdminVerbs::list_staff(OutputFormat format) {
  return print_records(out_, format, store_.staff(), columns::staff());
}

Status AdminVerbs::revoke_staff(const std::string& name, const std::string& reason) {
  auto revoked = store_.revoke_staff(name, reason, actor_);
  if (!revoked) return revoked.error();
  out_ << "staff '" << revoked->name << "' revoked\n";
  return {};
}

Status AdminVerbs::set_desktop(const std::string& project, const std::string& host, std::uint16_t port,
                               const std::string& certificate_sha256, const std::string& logoff_endpoint) {
  if (host.empty()) return make_error(ErrorCategory::usage, "the desktop needs a host");
  if (port == 0) return make_error(ErrorCategory::usage, "the desktop's port must be between 1 and 65535");
  auto pinned = normalise_certificate_sha256(certificate_sha256);
  if (!pinned) return pinned.error();
  auto set = store_.set_desktop(broker::Desktop{project, host, port, *pinned, logoff_endpoint}, actor_);
  if (!set) return set.error();
  out_ << confirmation::desktop_set(broker::to_json(*set));
  return {};
}

Status AdminVerbs::set_desktop_account(const std::string& project, const std::string& user, const std::string& login,
                                       const std::filesystem::path& password_file) {
  auto secret = read_password_file(password_file);
  if (!secret) return secret.error();
  auto set = store_.set_desktop_account({project, user, login.empty() ? user : login, *secret}, actor_);
  secure_wipe(*secret);
  if (!set) return set.error();
  out_ << confirmation::desktop_account_set(Json{{"project", set->project}, {"user", set->user}, {"login", set->login}});
  return {};
}

Status AdminVerbs::list_desktops(OutputFormat format) {
  return print_records(out_, format, store_.desktops(), columns::desktops());
}

Status AdminVerbs::list_sessions(OutputFormat format) {
  return print_records(out_, format, store_.sessions(), columns::sessions());
}

Status AdminVerbs::end_session(std::int64_t /*id*/, const std::string& /*reason*/) {
  return needs_broker("session end", only_here::logoff);
}

Status AdminVerbs::list_alerts(OutputFormat /*format*/) { return needs_broker("alert list", only_here::alerts); }

Status AdminVerbs::list_audit(const broker::AuditQuery& query, OutputFormat format) {
  return print_records(out_, format, store_.audit_records(query), columns::audit());
}

Result<bool> AdminVerbs::verify_audit(OutputFormat format) {
  auto verdict = store_.verify_audit();
  if (!verdict) return verdict.error();
  return print_audit_verdict(out_, format, broker::to_json(*verdict));
}

Status AdminVerbs::refresh_crls() {
  auto boxes = rewrite_crl(Authority::boxes);
  if (!boxes) return boxes.error();
  auto cards = rewrite_crl(Authority::users);
  if (!cards) return cards.error();
  broker::AuditEvent event{actor_, "pki.crl_refresh", "ok",
                           {{"boxes_revoked", static_cast<std::int64_t>(*boxes)},
                            {"cards_revoked", static_cast<std::int64_t>(*cards)}}};
  if (auto recorded = store_.audit(event); !recorded) return recorded.error();
  out_ << pki_.crl(Authority::boxes).string() << " lists " << *boxes << " certificate(s), "
       << pki_.crl(Authority::users).string() << " lists " << *cards << " certificate(s); both valid 30 days\n";
  return {};
}

}  // namespace sdbox::ctl
