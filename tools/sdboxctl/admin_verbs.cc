#include "admin_verbs.hpp"

#include "pki/crl_publisher.hpp"

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

namespace sdbox::ctl {

namespace {

using broker::StoreFailure;
using Json = nlohmann::json;
using Authority = broker::Pki::Authority;

Error store_error(StoreFailure failure, std::string message) {
  return make_error(ErrorCategory::broker, std::move(message), static_cast<std::int64_t>(failure));
}

bool is_store_failure(const Error& error, StoreFailure failure) {
  return error.category == ErrorCategory::broker && error.code == static_cast<std::int64_t>(failure);
}

/// Undoes what a verb created when it does not get to the end, so a refusal leaves no files
/// behind. Actions run in reverse order of registration; `keep()` once everything succeeded.
class UndoOnFailure {
 public:
  UndoOnFailure() = default;
  UndoOnFailure(const UndoOnFailure&) = delete;
  UndoOnFailure& operator=(const UndoOnFailure&) = delete;
  ~UndoOnFailure() {
    if (kept_) return;
    for (auto action = actions_.rbegin(); action != actions_.rend(); ++action) (*action)();
  }

  /// `directory` is about to be filled: it must not exist, or be empty. Undoing removes what
  /// this run put there: the topmost folder it had to create, or the new entries of an empty one.
  void directory_to_fill(const std::filesystem::path& directory) {
    const auto absolute = std::filesystem::absolute(directory);
    if (std::filesystem::exists(absolute)) {
      actions_.emplace_back([absolute] {
        std::error_code ignored;
        for (const auto& entry : std::filesystem::directory_iterator(absolute, ignored)) {
          std::filesystem::remove_all(entry.path(), ignored);
        }
      });
      return;
    }
    auto topmost_new = absolute;
    while (!std::filesystem::exists(topmost_new.parent_path())) topmost_new = topmost_new.parent_path();
    actions_.emplace_back([topmost_new] {
      std::error_code ignored;
      std::filesystem::remove_all(topmost_new, ignored);
    });
  }

  void file_to_create(const std::filesystem::path& file) {
    actions_.emplace_back([file] {
      std::error_code ignored;
      std::filesystem::remove(file, ignored);
    });
  }

  void keep() { kept_ = true; }

 private:
  std::vector<std::function<void()>> actions_;
  bool kept_ = false;
};

/// Refuses a directory that holds anything: what a verb writes never mixes with older files.
Status require_empty_or_absent(const std::filesystem::path& directory, std::string_view what) {
  std::error_code error;
  if (!std::filesystem::exists(directory, error)) return {};
  if (!std::filesystem::is_directory(directory, error)) {
    return store_error(StoreFailure::conflict,
                       fmt::format("{} {} exists and is not a directory", what, directory.string()));
  }
  if (!std::filesystem::is_empty(directory, error)) {
    return store_error(StoreFailure::conflict,
                       fmt::format("{} {} is not empty; not writing into it", what, directory.string()));
  }
  return {};
}

Status make_private_directory(const std::filesystem::path& directory) {
  std::error_code error;
  if (std::filesystem::exists(directory, error)) return {};
  std::filesystem::create_directories(directory, error);
  if (!error) std::filesystem::permissions(directory, std::filesystem::perms::owner_all, error);
  if (error) {
    return make_error(ErrorCategory::io, fmt::format("cannot create {}: {}", directory.string(), error.message()));
  }
  return {};
}

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

/// Columns padded to their widest cell; the last column is never padded.
void print_table(std::ostream& out, const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(headers.size());
  for (std::size_t column = 0; column < headers.size(); ++column) widths[column] = headers[column].size();
  for (const auto& row : rows) {
    for (std::size_t column = 0; column < row.size() && column < widths.size(); ++column) {
      widths[column] = std::max(widths[column], row[column].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t column = 0; column < cells.size(); ++column) {
      line += cells[column];
      if (column + 1 < cells.size()) line += std::string(widths[column] - cells[column].size() + 2, ' ');
    }
    out << line << "\n";
  };
  print_row(headers);
  for (const auto& row : rows) print_row(row);
}

template <class T, class ToJson, class ToRow>
Status print_listing(std::ostream& out, OutputFormat format, const Result<std::vector<T>>& items,
                     const std::vector<std::string>& headers, ToJson to_json, ToRow to_row) {
  if (!items) return items.error();
  if (format == OutputFormat::json) {
    Json array = Json::array();
    for (const auto& item : *items) array.push_back(to_json(item));
    out << array.dump(2) << "\n";
    return {};
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : *items) rows.push_back(to_row(item));
  print_table(out, headers, rows);
  return {};
}

std::string with_reason(std::string_view state, const std::string& reason) {
  return reason.empty() ? std::string(state) : fmt::format("{} ({})", state, reason);
}

}  // namespace

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

Result<std::string> normalise_serial(std::string_view text) {
  std::string serial;
  for (const char c : text) {
    if (c == ':' || c == ' ') continue;
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      return make_error(ErrorCategory::usage, fmt::format("'{}' is not a certificate serial in hex", text));
    }
    serial += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (serial.empty()) return make_error(ErrorCategory::usage, "the certificate serial is empty");
  return serial;
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

Status AdminVerbs::add_site(const std::string& name) {
  auto added = store_.add_site(name, actor_);
  if (!added) return added.error();
  out_ << "site '" << added->name << "' added\n";
  return {};
}

Status AdminVerbs::list_sites(OutputFormat format) {
  return print_listing(
      out_, format, store_.sites(), {"NAME", "CREATED"},
      [](const broker::Site& site) {
        return Json{{"id", site.id}, {"name", site.name}, {"created_at", broker::format_time(site.created_at)}};
      },
      [](const broker::Site& site) {
        return std::vector<std::string>{site.name, broker::format_time(site.created_at)};
      });
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
  out_ << "box '" << added->name << "' added at site '" << added->site << "': certificate serial "
       << added->certificate_serial << ", valid until "
       << broker::format_day(std::chrono::floor<std::chrono::days>(bundle->not_after)) << "\n"
       << "bundle in " << bundle->directory.string()
       << ": client.crt, client.key (secret: copy it onto the box only), broker-ca.crt\n";
  return {};
}

Status AdminVerbs::list_boxes(OutputFormat format) {
  return print_listing(
      out_, format, store_.boxes(), {"NAME", "SITE", "STATE", "CERTIFICATE SERIAL", "CREATED"},
      [](const broker::Box& box) {
        return Json{{"id", box.id},
                    {"name", box.name},
                    {"site", box.site},
                    {"certificate_serial", box.certificate_serial},
                    {"certificate_sha256", box.certificate_sha256},
                    {"state", broker::to_string(box.state)},
                    {"state_reason", box.state_reason},
                    {"created_at", broker::format_time(box.created_at)}};
      },
      [](const broker::Box& box) {
        return std::vector<std::string>{box.name, box.site, with_reason(broker::to_string(box.state), box.state_reason),
                                        box.certificate_serial, broker::format_time(box.created_at)};
      });
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
  out_ << "user '" << added->login << "' (" << added->full_name << ") added\n";
  return {};
}

Status AdminVerbs::list_users(OutputFormat format) {
  return print_listing(
      out_, format, store_.users(), {"LOGIN", "NAME", "STATE", "CREATED"},
      [](const broker::User& user) {
        return Json{{"id", user.id},
                    {"login", user.login},
                    {"full_name", user.full_name},
                    {"state", broker::to_string(user.state)},
                    {"created_at", broker::format_time(user.created_at)}};
      },
      [](const broker::User& user) {
        return std::vector<std::string>{user.login, user.full_name, std::string(broker::to_string(user.state)),
                                        broker::format_time(user.created_at)};
      });
}

Status AdminVerbs::issue_card(CardIssue issue, const CardPersonaliser& personalise, const SecretReader& read_secret) {
  // The user first: a card personalised for nobody would be wasted (and its PIN set for nothing).
  auto user = store_.user(issue.login);
  if (!user) return user.error();
  CardProfile profile;
  profile.holder_name = user->full_name;
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
    if (!asked) return asked.error();
    *wanted = std::move(*asked);
  }
  auto personalised = personalise(issue.reader_prefix, CaDirectory{pki_.ca_directory(Authority::users)}, profile);
  secure_wipe(profile.new_pin);
  secure_wipe(profile.new_puk);
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
  out_ << "card issued to '" << added->user << "' (" << user->full_name << "): certificate serial "
       << added->certificate_serial << ", valid until "
       << broker::format_day(std::chrono::floor<std::chrono::days>(crypto::certificate_not_after(**certificate)))
       << "\n";
  return {};
}

Status AdminVerbs::list_cards(OutputFormat format) {
  return print_listing(
      out_, format, store_.cards(), {"USER", "STATE", "CERTIFICATE SERIAL", "ENROLLED"},
      [](const broker::Card& card) {
        return Json{{"id", card.id},
                    {"user", card.user},
                    {"certificate_serial", card.certificate_serial},
                    {"certificate_sha256", card.certificate_sha256},
                    {"state", broker::to_string(card.state)},
                    {"state_reason", card.state_reason},
                    {"enrolled_at", broker::format_time(card.enrolled_at)}};
      },
      [](const broker::Card& card) {
        return std::vector<std::string>{card.user, with_reason(broker::to_string(card.state), card.state_reason),
                                        card.certificate_serial, broker::format_time(card.enrolled_at)};
      });
}

Result<std::string> AdminVerbs::chosen_card_serial(const CardChoice& choice) {
  if (choice.certificate_serial.empty() == choice.login.empty()) {
    return make_error(ErrorCategory::usage, "name the card with --serial HEX or with --user LOGIN (one of them)");
  }
  if (!choice.certificate_serial.empty()) {
    auto serial = normalise_serial(choice.certificate_serial);
    if (!serial) return serial.error();
    auto card = store_.card_by_serial(*serial);
    if (!card) return card.error();
    return *serial;
  }
  if (auto user = store_.user(choice.login); !user) return user.error();
  auto cards = store_.cards();
  if (!cards) return cards.error();
  std::vector<std::string> candidates;
  for (const auto& card : *cards) {
    if (card.user == choice.login && card.state != broker::CardState::revoked) {
      candidates.push_back(card.certificate_serial);
    }
  }
  if (candidates.empty()) {
    return store_error(StoreFailure::not_found, fmt::format("user '{}' has no card that is not revoked", choice.login));
  }
  if (candidates.size() > 1) {
    return store_error(StoreFailure::conflict,
                       fmt::format("user '{}' has {} cards that are not revoked ({}): choose one with --serial",
                                   choice.login, candidates.size(), join(candidates, ", ")));
  }
  return candidates.front();
}

Status AdminVerbs::set_card_state(const CardChoice& choice, broker::CardState state, const std::string& reason) {
  auto serial = chosen_card_serial(choice);
  if (!serial) return serial.error();
  auto changed = store_.set_card_state(*serial, state, reason, actor_);
  if (!changed) return changed.error();
  out_ << "card " << changed->certificate_serial << " of '" << changed->user << "' is now "
       << broker::to_string(changed->state) << "\n";
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
  out_ << "project '" << added->name << "' (" << added->title << ") added\n";
  return {};
}

Status AdminVerbs::list_projects(OutputFormat format) {
  return print_listing(
      out_, format, store_.projects(), {"NAME", "TITLE"},
      [](const broker::Project& project) {
        return Json{{"id", project.id}, {"name", project.name}, {"title", project.title}};
      },
      [](const broker::Project& project) { return std::vector<std::string>{project.name, project.title}; });
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
  out_ << "'" << added->user << "' is a member of '" << added->project << "' from " << broker::format_day(added->from)
       << " until " << broker::format_day(added->until) << " (both days included)\n";
  return {};
}

Status AdminVerbs::list_members(OutputFormat format) {
  return print_listing(
      out_, format, store_.memberships(), {"ID", "USER", "PROJECT", "FROM", "UNTIL", "ENDED"},
      [](const broker::Membership& membership) {
        return Json{{"id", membership.id},
                    {"user", membership.user},
                    {"project", membership.project},
                    {"from", broker::format_day(membership.from)},
                    {"until", broker::format_day(membership.until)},
                    {"ended", membership.ended_at.has_value()}};
      },
      [](const broker::Membership& membership) {
        return std::vector<std::string>{std::to_string(membership.id), membership.user, membership.project,
                                        broker::format_day(membership.from), broker::format_day(membership.until),
                                        membership.ended_at ? broker::format_time(*membership.ended_at) : "-"};
      });
}

Status AdminVerbs::end_member(std::int64_t id, const std::string& reason) {
  auto ended = store_.end_membership(id, reason, actor_);
  if (!ended) return ended.error();
  out_ << "membership " << ended->id << " of '" << ended->user << "' in '" << ended->project << "' ended\n";
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
       << added->certificate_serial << ", valid until "
       << broker::format_day(std::chrono::floor<std::chrono::days>(bundle->not_after)) << "\n"
       << "bundle in " << bundle->directory.string() << " (client.crt, client.key, broker-ca.crt): give it to them only\n";
  return {};
}

Status AdminVerbs::list_staff(OutputFormat format) {
  return print_listing(
      out_, format, store_.staff(), {"NAME", "ROLE", "STATE", "SERIAL", "ADDED"},
      [](const broker::StaffMember& member) {
        return Json{{"name", member.name},
                    {"role", broker::to_string(member.role)},
                    {"state", broker::to_string(member.state)},
                    {"certificate_serial", member.certificate_serial},
                    {"created_at", broker::format_time(member.created_at)}};
      },
      [](const broker::StaffMember& member) {
        return std::vector<std::string>{member.name, std::string(broker::to_string(member.role)),
                                        std::string(broker::to_string(member.state)), member.certificate_serial,
                                        broker::format_time(member.created_at)};
      });
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
  Bytes digest;
  if (!certificate_sha256.empty() && (!from_hex(certificate_sha256, digest) || digest.size() != 32)) {
    return make_error(ErrorCategory::usage, "--certificate-sha256 is not a SHA-256 in hex (64 digits, colons allowed)");
  }
  auto set = store_.set_desktop(broker::Desktop{project, host, port, digest.empty() ? "" : to_hex(digest), logoff_endpoint}, actor_);
  if (!set) return set.error();
  out_ << "desktop of '" << set->project << "': " << set->host << ":" << set->port
       << (set->certificate_sha256.empty() ? " (any certificate)" : " (certificate pinned)") << "\n";
  return {};
}

Status AdminVerbs::set_desktop_account(const std::string& project, const std::string& user, const std::string& login,
                                       const std::filesystem::path& password_file) {
  std::string secret;
  if (password_file == "-") {
    std::getline(std::cin, secret);
  } else {
    std::ifstream in(password_file);
    if (!in) return make_error(ErrorCategory::usage, "cannot read --password-file " + password_file.string());
    std::getline(in, secret);
  }
  if (secret.empty()) return make_error(ErrorCategory::usage, "the desktop password is empty");
  auto set = store_.set_desktop_account({project, user, login.empty() ? user : login, secret}, actor_);
  if (!set) return set.error();
  out_ << "desktop account of '" << set->user << "' on '" << set->project << "': " << set->login << "\n";
  return {};
}

Status AdminVerbs::list_desktops(OutputFormat format) {
  return print_listing(
      out_, format, store_.desktops(), {"PROJECT", "HOST", "PORT", "CERTIFICATE SHA-256"},
      [](const broker::Desktop& desktop) {
        return Json{{"project", desktop.project},
                    {"host", desktop.host},
                    {"port", desktop.port},
                    {"certificate_sha256", desktop.certificate_sha256},
                    {"logoff_endpoint", desktop.logoff_endpoint}};
      },
      [](const broker::Desktop& desktop) {
        return std::vector<std::string>{desktop.project, desktop.host, std::to_string(desktop.port),
                                        desktop.certificate_sha256.empty() ? "any" : desktop.certificate_sha256};
      });
}

Status AdminVerbs::list_sessions(OutputFormat format) {
  return print_listing(
      out_, format, store_.sessions(), {"ID", "USER", "BOX", "PROJECT", "STATE", "STARTED", "ENDED"},
      [](const broker::Session& session) {
        return Json{{"id", session.id},
                    {"user", session.user},
                    {"box", session.box},
                    {"project", session.project},
                    {"state", broker::to_string(session.state)},
                    {"started_at", broker::format_time(session.started_at)},
                    {"ended_at", session.ended_at ? Json(broker::format_time(*session.ended_at)) : Json(nullptr)}};
      },
      [](const broker::Session& session) {
        return std::vector<std::string>{std::to_string(session.id),
                                        session.user,
                                        session.box,
                                        session.project,
                                        std::string(broker::to_string(session.state)),
                                        broker::format_time(session.started_at),
                                        session.ended_at ? broker::format_time(*session.ended_at) : "-"};
      });
}

Status AdminVerbs::list_audit(const broker::AuditQuery& query, OutputFormat format) {
  return print_listing(
      out_, format, store_.audit_records(query), {"SEQ", "AT", "ACTOR", "ACTION", "OUTCOME", "DETAILS"},
      [](const broker::AuditRecord& record) {
        return Json{{"sequence", record.sequence},
                    {"at", broker::format_time(record.at)},
                    {"actor", record.event.actor},
                    {"action", record.event.action},
                    {"outcome", record.event.outcome},
                    {"details", record.event.details},
                    {"previous_hash", record.previous_hash},
                    {"hash", record.hash}};
      },
      [](const broker::AuditRecord& record) {
        return std::vector<std::string>{std::to_string(record.sequence),
                                        broker::format_time(record.at),
                                        record.event.actor,
                                        record.event.action,
                                        record.event.outcome,
                                        record.event.details.dump(-1, ' ', false, Json::error_handler_t::replace)};
      });
}

Result<bool> AdminVerbs::verify_audit(OutputFormat format) {
  auto verdict = store_.verify_audit();
  if (!verdict) return verdict.error();
  if (format == OutputFormat::json) {
    out_ << Json{{"intact", verdict->intact()},
                 {"records", verdict->records},
                 {"head", verdict->head_hash},
                 {"problems", verdict->problems}}
                .dump(2)
         << "\n";
  } else if (verdict->intact()) {
    out_ << "audit chain intact: " << verdict->records << " records, head " << verdict->head_hash << "\n";
  } else {
    out_ << "audit chain BROKEN: " << verdict->records << " records, " << verdict->problems.size() << " problem(s)\n";
    for (const auto& problem : verdict->problems) out_ << "  " << problem << "\n";
  }
  return verdict->intact();
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
