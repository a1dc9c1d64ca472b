#include "admin_cli.hpp"

#include "sdbox/common/piv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace sdbox::ctl {

namespace {

std::string from_environment(const char* name, std::string fallback = {}) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

std::string verb_name(const CLI::App& command) {
  const auto* parent = command.get_parent();
  return parent != nullptr && parent->get_parent() != nullptr ? parent->get_name() + " " + command.get_name()
                                                              : command.get_name();
}

}  // namespace

std::string exit_status_help() {
  return fmt::format(
      "Exit status: {} done; {} refused (an unknown or duplicate name, a rule such as a window that ends before it "
      "starts, a revoked card, a role the broker does not allow; for 'audit verify': the audit chain is broken); {} "
      "usage error (unknown verb or option, missing option, malformed value, a verb that runs elsewhere); {} failure "
      "of the machine (state directory, store, PKI files, card reader, the broker unreachable).",
      exit_status::ok, exit_status::refused, exit_status::usage, exit_status::failed);
}

CLI::App* AdminCommandLine::add_verb(CLI::App& parent, const std::string& name, const std::string& description,
                                     Action action, Reach reach, std::string_view why) {
  auto* verb = parent.add_subcommand(name, description);
  verbs_.push_back({verb, std::move(action), reach, why});
  return verb;
}

CLI::App* AdminCommandLine::add_listing(CLI::App& parent, const std::string& description,
                                        std::function<Status(AdminActions&, OutputFormat)> list, Reach reach,
                                        std::string_view why) {
  auto* verb = add_verb(
      parent, "list", description,
      [this, list = std::move(list)](AdminActions& verbs, const Dependencies&) -> Result<int> {
        if (auto listed = list(verbs, format()); !listed) return listed.error();
        return exit_status::ok;
      },
      reach, why);
  verb->add_flag("--json", json_, "print one JSON array of objects (times as YYYY-MM-DDTHH:MM:SSZ, UTC)");
  return verb;
}

namespace {

/// Wraps a verb that returns Status as an action.
template <class Verb>
auto done_when_ok(Verb verb) {
  return [verb = std::move(verb)](AdminActions& verbs, const AdminCommandLine::Dependencies&) -> Result<int> {
    if (auto result = verb(verbs); !result) return result.error();
    return exit_status::ok;
  };
}

}  // namespace

AdminCommandLine::AdminCommandLine(CLI::App& app, CLI::App& card_command)
    : state_directory_(from_environment("SDBOX_STATE", "/var/lib/sdbox")),
      broker_url_(from_environment("SDBOX_BROKER")),
      staff_directory_(from_environment("SDBOX_STAFF")),
      management_key_hex_(piv::kDefaultManagementKeyHex) {
  state_option_ = app.add_option(
      "--state", state_directory_,
      "on the broker host: the broker's state directory, broker.db and pki/ (default: $SDBOX_STATE, else "
      "/var/lib/sdbox)")
      ->type_name("DIR");
  broker_option_ = app.add_option(
      "--broker", broker_url_,
      "run the admin verb through the broker's admin API at https://HOST:PORT instead, as the member of staff of "
      "--staff (default: $SDBOX_BROKER unless --state is given)")
      ->type_name("URL");
  app.add_option("--staff", staff_directory_,
                 "with --broker: your staff bundle folder, client.crt, client.key and broker-ca.crt from 'sdboxctl "
                 "staff add' (default: $SDBOX_STAFF)")
      ->type_name("DIR");

  // ---- pki ----
  auto* pki = app.add_subcommand("pki", "the broker's certificate authorities and CRLs (STATE/pki; broker host only)");
  pki->require_subcommand(1);
  pki_init_ = pki->add_subcommand(
      "init", "create the boxes, users and staff CAs, the broker's server certificate, empty CRLs and the store");
  pki_init_->add_option("--server-name", server_names_,
                        "a name of the broker in its server certificate, DNS:host or IP:address (repeat for several; "
                        "default DNS:localhost IP:127.0.0.1)");
  add_verb(*pki, "refresh-crl", "rewrite boxes.crl and users.crl from the store (they are valid 30 days; broker host only)",
           done_when_ok([](AdminActions& verbs) { return verbs.refresh_crls(); }), Reach::broker_host, only_here::ca_keys);

  // ---- sites ----
  auto* site = app.add_subcommand("site", "hosting sites")->require_subcommand(1);
  add_verb(*site, "add", "register a hosting site", done_when_ok([this](AdminActions& verbs) {
             return verbs.add_site(name_);
           }))
      ->add_option("--name", name_, "the site's name")
      ->required();
  add_listing(*site, "list the sites", [](AdminActions& verbs, OutputFormat format) { return verbs.list_sites(format); });

  // ---- boxes ----
  auto* box = app.add_subcommand("box", "SD-Box terminals and their device certificates")->require_subcommand(1);
  auto* box_add = add_verb(
      *box, "add",
      "issue a device certificate from the boxes CA (CN = box name) into --out and register the box at a site",
      done_when_ok([this](AdminActions& verbs) {
        return verbs.add_box({name_, site_, bundle_directory_, std::chrono::hours(24 * box_days_)});
      }));
  box_add->add_option("--name", name_, "the box's name")->required();
  box_add->add_option("--site", site_, "the site it stands at (must exist)")->required();
  box_add->add_option("--out", bundle_directory_,
                      "new (or empty) directory for client.crt, client.key and broker-ca.crt, to copy onto the box")
      ->required();
  box_add->add_option("--days", box_days_, "certificate validity in days (default 825)")->check(CLI::Range(1, 3650));
  add_listing(*box, "list the boxes", [](AdminActions& verbs, OutputFormat format) { return verbs.list_boxes(format); });
  auto* box_revoke = add_verb(*box, "revoke", "revoke a box for good and rewrite boxes.crl",
                              done_when_ok([this](AdminActions& verbs) { return verbs.revoke_box(name_, reason_); }));
  box_revoke->add_option("--name", name_, "the box's name")->required();
  box_revoke->add_option("--reason", reason_, "why (kept in the store and the audit trail)")->required();

  // ---- users ----
  auto* user = app.add_subcommand("user", "researchers")->require_subcommand(1);
  auto* user_add = add_verb(*user, "add", "register a user",
                            done_when_ok([this](AdminActions& verbs) { return verbs.add_user(login_, full_name_); }));
  user_add->add_option("--login", login_, "the user's login")->required();
  user_add->add_option("--name", full_name_, "the user's full name (the card holder's name)")->required();
  add_listing(*user, "list the users", [](AdminActions& verbs, OutputFormat format) { return verbs.list_users(format); });

  // ---- cards (beside card init and card enrol-finger, which need no state) ----
  auto* card_issue = add_verb(
      card_command, "issue",
      "personalise the card in the reader for a registered user (key on the card, certificate from the users CA, "
      "PIN, PUK) and register it; with --broker the broker certifies the card's key and registers the card",
      [this](AdminActions& verbs, const Dependencies& dependencies) -> Result<int> {
        AdminVerbs::CardIssue issue;
        issue.login = login_;
        issue.new_pin = pin_;
        issue.new_puk = puk_;
        issue.current_pin = current_pin_;
        issue.current_puk = current_puk_;
        issue.reader_prefix = reader_prefix_;
        issue.validity = std::chrono::hours(24 * card_days_);
        if (!from_hex(management_key_hex_, issue.management_key)) {
          return make_error(ErrorCategory::usage, "--management-key is not hex");
        }
        if (auto issued = verbs.issue_card(std::move(issue), dependencies.personalise_card, dependencies.read_secret);
            !issued) {
          return issued.error();
        }
        return exit_status::ok;
      });
  card_issue_ = card_issue;
  card_issue->add_option("--user", login_, "the card holder's login (must exist)")->required();
  card_issue->add_option("--pin", pin_, "new PIN, 6-8 digits (asked without echo when absent)");
  card_issue->add_option("--puk", puk_, "new PUK, 6-8 digits (asked without echo when absent)");
  card_issue->add_option("--current-pin", current_pin_, "the card's current PIN (default the factory 123456)");
  card_issue->add_option("--current-puk", current_puk_, "the card's current PUK (default the factory 12345678)");
  card_issue->add_option("--management-key", management_key_hex_, "the card's 3DES management key (hex)");
  card_issue->add_option("--reader", reader_prefix_, "use the first reader whose name starts with this");
  card_issue->add_option("--days", card_days_, "certificate validity in days (default 1460, the renewal period)")
      ->check(CLI::Range(1, 3650));
  add_listing(card_command, "list the registered cards",
              [](AdminActions& verbs, OutputFormat format) { return verbs.list_cards(format); });
  const std::tuple<const char*, broker::CardState, const char*> card_changes[] = {
      {"suspend", broker::CardState::suspended, "suspend a card (a lost card; reversible)"},
      {"reinstate", broker::CardState::active, "make a suspended card active again"},
      {"revoke", broker::CardState::revoked, "revoke a card for good and rewrite users.crl"},
  };
  for (const auto& [verb_name, state, description] : card_changes) {
    auto* change = add_verb(card_command, verb_name, description,
                            done_when_ok([this, wanted = state](AdminActions& verbs) {
                              return verbs.set_card_state({serial_, login_}, wanted, reason_);
                            }));
    auto* by_serial = change->add_option("--serial", serial_, "the card's certificate serial (hex, as in card list)");
    auto* by_user = change->add_option("--user", login_, "the user's only card that is not revoked");
    by_serial->excludes(by_user);
    change->add_option("--reason", reason_, "why (kept in the store and the audit trail; required with --broker)");
  }

  // ---- projects, memberships, desktops ----
  auto* project = app.add_subcommand("project", "research projects")->require_subcommand(1);
  auto* project_add = add_verb(*project, "add", "register a project",
                               done_when_ok([this](AdminActions& verbs) { return verbs.add_project(name_, title_); }));
  project_add->add_option("--name", name_, "the project's short name")->required();
  project_add->add_option("--title", title_, "what users see when they choose it")->required();
  add_listing(*project, "list the projects",
              [](AdminActions& verbs, OutputFormat format) { return verbs.list_projects(format); });

  auto* member = app.add_subcommand("member", "who may open which project, and when")->require_subcommand(1);
  auto* member_add = add_verb(*member, "add", "let a user open a project from one day until another (both included)",
                              done_when_ok([this](AdminActions& verbs) {
                                return verbs.add_member(login_, project_, from_, until_);
                              }));
  member_add->add_option("--user", login_, "the user's login")->required();
  member_add->add_option("--project", project_, "the project's name")->required();
  member_add->add_option("--from", from_, "first day, YYYY-MM-DD (UTC)")->required();
  member_add->add_option("--until", until_, "last day, YYYY-MM-DD (UTC)")->required();
  add_listing(*member, "list the memberships",
              [](AdminActions& verbs, OutputFormat format) { return verbs.list_members(format); });
  auto* member_end = add_verb(*member, "end", "end a membership now, for good (the member's open views of the project close)",
                              done_when_ok([this](AdminActions& verbs) { return verbs.end_member(membership_id_, reason_); }));
  member_end->add_option("--id", membership_id_, "the membership's id (member list)")->required()->check(CLI::PositiveNumber);
  member_end->add_option("--reason", reason_, "why (kept in the store and the audit trail)")->required();

  // ---- staff ----
  auto* staff = app.add_subcommand("staff", "IT admins, ops and auditors who use the admin API (broker host only)")
                    ->require_subcommand(1);
  auto* staff_add = add_verb(*staff, "add",
                             "issue a staff certificate (CN = name) from the staff CA into --out and register the member's role",
                             done_when_ok([this](AdminActions& verbs) -> Status {
                               auto role = broker::staff_role_from(role_);
                               if (!role) return make_error(ErrorCategory::usage, "--role must be admin, ops or auditor");
                               return verbs.add_staff({name_, *role, bundle_directory_, std::chrono::hours(24 * staff_days_)});
                             }),
                             Reach::broker_host, only_here::ca_keys);
  staff_add->add_option("--name", name_, "the member's name (their certificate's common name)")->required();
  staff_add->add_option("--role", role_, "admin, ops or auditor")->required();
  staff_add->add_option("--out", bundle_directory_, "new (or empty) directory for client.crt, client.key and broker-ca.crt")
      ->required();
  staff_add->add_option("--days", staff_days_, "certificate validity in days (default 365)")->check(CLI::Range(1, 3650));
  add_listing(
      *staff, "list the staff", [](AdminActions& verbs, OutputFormat format) { return verbs.list_staff(format); },
      Reach::broker_host, only_here::staff);
  auto* staff_revoke = add_verb(*staff, "revoke", "revoke a member of staff for good",
                                done_when_ok([this](AdminActions& verbs) { return verbs.revoke_staff(name_, reason_); }),
                                Reach::broker_host, only_here::staff);
  staff_revoke->add_option("--name", name_, "the member's name")->required();
  staff_revoke->add_option("--reason", reason_, "why (kept in the audit trail)")->required();

  auto* desktop = app.add_subcommand("desktop", "the desktop each project's sessions run on")->require_subcommand(1);
  auto* desktop_set = add_verb(*desktop, "set", "set (or replace) the RDP desktop of a project",
                               done_when_ok([this](AdminActions& verbs) {
                                 return verbs.set_desktop(project_, host_, static_cast<std::uint16_t>(port_), certificate_sha256_, logoff_endpoint_);
                               }));
  desktop_set->add_option("--project", project_, "the project's name")->required();
  desktop_set->add_option("--host", host_, "the desktop's host name or address")->required();
  desktop_set->add_option("--port", port_, "its RDP port")->required()->check(CLI::Range(1, 65535));
  desktop_set->add_option("--certificate-sha256", certificate_sha256_,
                          "SHA-256 of the desktop's TLS certificate (hex), pinned by the gateway; default: any");
  desktop_set->add_option("--logoff", logoff_endpoint_,
                          "how a member's session is ended: unix:/path (a control socket taking 'logoff LOGIN'); default: recorded only");
  auto* desktop_account = add_verb(*desktop, "account", "set a member's account on the project's desktop (the gateway logs in with it)",
                                   done_when_ok([this](AdminActions& verbs) {
                                     return verbs.set_desktop_account(project_, login_, desktop_login_, password_file_);
                                   }));
  desktop_account->add_option("--project", project_, "the project's name")->required();
  desktop_account->add_option("--user", login_, "the member's SD-Box login")->required();
  desktop_account->add_option("--login", desktop_login_, "the account's name on the desktop (default: the SD-Box login)");
  desktop_account->add_option("--password-file", password_file_,
                              "file whose first line is the account's password ('-': standard input); never on the command line")
      ->required();
  add_listing(*desktop, "list the desktops",
              [](AdminActions& verbs, OutputFormat format) { return verbs.list_desktops(format); });

  // ---- sessions and audit ----
  auto* session = app.add_subcommand("session", "desktop sessions")->require_subcommand(1);
  add_listing(*session,
              "list the sessions: on the broker host every session in the store (started, ended); with --broker the "
              "live ones (connected or not, where and since when)",
              [](AdminActions& verbs, OutputFormat format) { return verbs.list_sessions(format); });
  auto* session_end = add_verb(
      *session, "end", "end a live session now: its view on the box closes and the desktop session is logged off (needs --broker)",
      done_when_ok([this](AdminActions& verbs) { return verbs.end_session(session_id_, reason_); }),
      Reach::through_broker, only_here::logoff);
  session_end->add_option("--id", session_id_, "the session's id (session list)")->required()->check(CLI::PositiveNumber);
  session_end->add_option("--reason", reason_, "why (kept in the store and the audit trail)")->required();

  auto* alert = app.add_subcommand("alert", "what the running broker warns about (needs --broker)")->require_subcommand(1);
  add_listing(
      *alert, "list the current alerts: PIN or finger failures, blocked channels, boxes offline, a broken audit chain",
      [](AdminActions& verbs, OutputFormat format) { return verbs.list_alerts(format); }, Reach::through_broker,
      only_here::alerts);

  auto* audit = app.add_subcommand("audit", "the tamper-evident audit trail")->require_subcommand(1);
  auto list_records = [this](AdminActions& verbs, OutputFormat format) {
    broker::AuditQuery query;
    query.after_sequence = after_sequence_;
    query.limit = limit_;
    query.action_prefix = action_prefix_;
    return verbs.list_audit(query, format);
  };
  auto* audit_list = add_listing(*audit, "list audit records, oldest first", list_records);
  audit_list->add_option("--after", after_sequence_, "only records after this sequence number")
      ->check(CLI::NonNegativeNumber);
  audit_list->add_option("--limit", limit_, "at most this many records (default 1000)")->check(CLI::Range(1, 1000000));
  audit_list->add_option("--action", action_prefix_, "only actions starting with this, e.g. card. or login.");
  auto* audit_verify = add_verb(*audit, "verify",
                                "recompute the hash chain; exit 0 when intact, 1 (listing every problem) when not",
                                [this](AdminActions& verbs, const Dependencies&) -> Result<int> {
                                  auto intact = verbs.verify_audit(format());
                                  if (!intact) return intact.error();
                                  return *intact ? exit_status::ok : exit_status::refused;
                                });
  audit_verify->add_flag("--json", json_, R"(print {"intact":..,"records":..,"head":..,"problems":[..]})");
}

bool AdminCommandLine::chosen() const {
  if (pki_init_->parsed()) return true;
  return std::any_of(verbs_.begin(), verbs_.end(), [](const Verb& verb) { return verb.command->parsed(); });
}

Result<int> AdminCommandLine::run(const Dependencies& dependencies) const {
  const bool state_given = state_option_->count() > 0;
  if (state_given && broker_option_->count() > 0) {
    return make_error(ErrorCategory::usage,
                      "give --state (on the broker host) or --broker (through its admin API), not both");
  }
  const bool through_broker = !state_given && !broker_url_.empty();
  if (pki_init_->parsed()) {
    if (through_broker) return broker_host_only("pki init", only_here::ca_keys);
    const StateDirectory state{state_directory_};
    if (auto made = init_pki({state, dependencies.clock, dependencies.actor, dependencies.open_store, dependencies.out},
                             server_names_);
        !made) {
      return made.error();
    }
    return exit_status::ok;
  }
  const auto chosen = std::find_if(verbs_.begin(), verbs_.end(), [](const Verb& verb) { return verb.command->parsed(); });
  if (chosen == verbs_.end()) return make_error(ErrorCategory::usage, "no admin verb was chosen");
  // Refused before anything is opened: the answer does not depend on the store or the broker.
  if (through_broker && chosen->reach == Reach::broker_host) return broker_host_only(verb_name(*chosen->command), chosen->why);
  if (!through_broker && chosen->reach == Reach::through_broker) return needs_broker(verb_name(*chosen->command), chosen->why);
  return through_broker ? run_through_broker(*chosen, dependencies) : run_locally(*chosen, dependencies);
}

Result<int> AdminCommandLine::run_locally(const Verb& verb, const Dependencies& dependencies) const {
  const StateDirectory state{state_directory_};
  // Every verb but pki init works on a state that pki init made: a mistyped --state must not
  // quietly start a new, empty store.
  if (!std::filesystem::exists(state.database())) {
    return make_error(ErrorCategory::config,
                      fmt::format("no SD-Box store in {} (run 'sdboxctl --state {} pki init' first)",
                                  state.directory.string(), state.directory.string()));
  }
  auto store = dependencies.open_store(state.database(), false);
  if (!store) return store.error();
  auto verbs =
      AdminVerbs::create({store->get(), state.pki(), dependencies.clock, dependencies.actor, dependencies.out});
  return verb.action(verbs, dependencies);
}

Result<int> AdminCommandLine::run_through_broker(const Verb& verb, const Dependencies& dependencies) const {
  if (staff_directory_.empty()) {
    return make_error(ErrorCategory::usage,
                      "--broker needs --staff DIR (or $SDBOX_STAFF): your staff bundle, client.crt, client.key and "
                      "broker-ca.crt");
  }
  if (!dependencies.connect_broker) throw std::invalid_argument("running a verb through the broker needs a connector");
  auto call = dependencies.connect_broker(broker_url_, staff_directory_);
  if (!call) return call.error();
  auto verbs = RemoteAdminVerbs::create({std::move(*call), dependencies.out});
  return verb.action(verbs, dependencies);
}

}  // namespace sdbox::ctl
