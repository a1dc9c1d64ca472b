#pragma once

#include "sdbox/common/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The broker's records: who and what exists, who may open which project when, and the audit
/// trail. One interface, so the embedded SQLite store and a PostgreSQL one are interchangeable.
namespace sdbox::broker {

using TimePoint = std::chrono::system_clock::time_point;
/// A calendar day (UTC); membership windows are whole days, both ends included.
using Day = std::chrono::sys_days;

/// What `Error::code` holds for store failures (category `broker`).
enum class StoreFailure : std::int64_t { not_found = 1, conflict = 2, invalid = 3, storage = 4 };

/// A store failure as an Error (category `broker`, code `failure`).
Error store_error(StoreFailure failure, std::string message);
/// Whether `error` is the store failure `failure`.
bool is_store_failure(const Error& error, StoreFailure failure);

enum class BoxState { active, revoked };
enum class CardState { active, suspended, revoked };
enum class UserState { active, disabled };
enum class SessionState { active, ended };
/// What a member of staff may do through the admin API (docs/api.md has the table).
enum class StaffRole { admin, ops, auditor };
enum class StaffState { active, revoked };

std::string_view to_string(BoxState state);
std::string_view to_string(CardState state);
std::string_view to_string(UserState state);
std::string_view to_string(SessionState state);
std::string_view to_string(StaffRole role);
std::string_view to_string(StaffState state);
/// "admin", "ops", "auditor"; anything else is nullopt.
std::optional<StaffRole> staff_role_from(std::string_view text);

struct Site {
  std::int64_t id = 0;
  std::string name;
  TimePoint created_at;
};

struct Box {
  std::int64_t id = 0;
  std::string name;
  std::string site;
  std::string certificate_serial;  ///< hex, as in the CRL
  std::string certificate_sha256;  ///< hex of the DER certificate's digest
  BoxState state = BoxState::active;
  std::string state_reason;
  TimePoint created_at;
  /// When the box last had a tunnel open (opened or closed); nullopt: never connected.
  std::optional<TimePoint> last_seen{};
};

struct User {
  std::int64_t id = 0;
  std::string login;
  std::string full_name;
  UserState state = UserState::active;
  TimePoint created_at;
};

struct Card {
  std::int64_t id = 0;
  std::string user;  ///< login
  std::string certificate_serial;
  std::string certificate_sha256;
  CardState state = CardState::active;
  std::string state_reason;
  TimePoint enrolled_at;
};

struct Project {
  std::int64_t id = 0;
  std::string name;
  std::string title;
};

struct Membership {
  std::int64_t id = 0;
  std::string user;
  std::string project;
  Day from;
  Day until;
  /// Ended early by an admin: the member may no longer open the project, whatever the window.
  std::optional<TimePoint> ended_at{};
  std::string end_reason{};
};

struct Desktop {
  std::string project;
  std::string host;
  std::uint16_t port = 0;
  /// SHA-256 (lowercase hex) of the desktop's TLS certificate, which the gateway pins; empty:
  /// any certificate (a desktop reached only on the broker's own network).
  std::string certificate_sha256{};
  /// How the broker ends a member's session on this desktop (logoff): "unix:/path" is a control
  /// socket that takes "logoff LOGIN" (the test desktop's); empty: logoff is recorded only.
  std::string logoff_endpoint{};
};

/// A member's account on their project's desktop: the gateway logs in with it, so the researcher
/// never types a desktop password. The secret is never listed, logged or audited.
struct DesktopAccount {
  std::string project;
  std::string user;
  std::string login;
  std::string secret;
};

/// A member's session on their project's desktop. It outlives the box's view of it (a card pulled
/// leaves it running) and ends with a logoff; one active session per member and project. `box`
/// is where it was last opened from.
struct Session {
  std::int64_t id = 0;
  std::string user;
  std::string box;
  std::string project;
  SessionState state = SessionState::active;
  TimePoint started_at;
  std::optional<TimePoint> ended_at;
  std::string end_reason{};
};

/// A member of staff who uses the admin API with a client certificate from the staff CA.
struct StaffMember {
  std::int64_t id = 0;
  std::string name;  ///< the certificate's common name
  StaffRole role = StaffRole::auditor;
  std::string certificate_serial;
  std::string certificate_sha256;
  StaffState state = StaffState::active;
  TimePoint created_at;
};

/// Something worth an audit record. `details` is a flat JSON object of strings and integers.
struct AuditEvent {
  std::string actor;    ///< "broker", "local:alice" (sdboxctl on the broker host), "staff:..."
  std::string action;   ///< "box.add", "login.refused", ...
  std::string outcome = "ok";
  nlohmann::json details = nlohmann::json::object();
};

struct AuditRecord {
  std::int64_t sequence = 0;
  TimePoint at;
  AuditEvent event;
  std::string previous_hash;  ///< hex; 64 zeros for the first record
  std::string hash;           ///< hex SHA-256 of the canonical form
};

/// What `verify_audit` found: empty `problems` means the chain is intact.
struct AuditVerification {
  std::int64_t records = 0;
  std::string head_hash;
  std::vector<std::string> problems;
  [[nodiscard]] bool intact() const { return problems.empty(); }
};

struct AuditQuery {
  std::int64_t after_sequence = 0;
  std::size_t limit = 1000;
  std::string action_prefix;  ///< "login." for every login step; empty for all
};

/// The broker's store. Every change is written together with its audit record in one
/// transaction: either both are there or neither is. Expected failures come back as `broker`
/// errors whose code is a `StoreFailure`.
class Store {
 public:
  virtual ~Store() = default;

  virtual Result<Site> add_site(const std::string& name, const std::string& actor) = 0;
  virtual Result<std::vector<Site>> sites() = 0;

  virtual Result<Box> add_box(const Box& box, const std::string& actor) = 0;
  virtual Result<std::vector<Box>> boxes() = 0;
  virtual Result<Box> box(const std::string& name) = 0;
  /// Only `revoked`, and only once: a revoked box stays revoked.
  virtual Result<Box> revoke_box(const std::string& name, const std::string& reason, const std::string& actor) = 0;

  virtual Result<User> add_user(const User& user, const std::string& actor) = 0;
  virtual Result<std::vector<User>> users() = 0;
  virtual Result<User> user(const std::string& login) = 0;

  virtual Result<Card> add_card(const Card& card, const std::string& actor) = 0;
  virtual Result<std::vector<Card>> cards() = 0;
  virtual Result<Card> card_by_serial(const std::string& certificate_serial) = 0;
  /// suspended <-> active is reversible; revoked is final.
  virtual Result<Card> set_card_state(const std::string& certificate_serial, CardState state,
                                      const std::string& reason, const std::string& actor) = 0;

  virtual Result<Project> add_project(const Project& project, const std::string& actor) = 0;
  virtual Result<std::vector<Project>> projects() = 0;

  virtual Result<Membership> add_membership(const Membership& membership, const std::string& actor) = 0;
  virtual Result<std::vector<Membership>> memberships() = 0;
  /// Ends a membership now (final); conflict when it has ended already.
  virtual Result<Membership> end_membership(std::int64_t id, const std::string& reason, const std::string& actor) = 0;
  /// The projects `login` may open on `day`, by name.
  virtual Result<std::vector<Project>> projects_open_to(const std::string& login, Day day) = 0;

  virtual Result<Desktop> set_desktop(const Desktop& desktop, const std::string& actor) = 0;
  virtual Result<Desktop> desktop(const std::string& project) = 0;
  virtual Result<std::vector<Desktop>> desktops() = 0;
  virtual Result<DesktopAccount> set_desktop_account(const DesktopAccount& account, const std::string& actor) = 0;
  virtual Result<DesktopAccount> desktop_account(const std::string& project, const std::string& user) = 0;

  /// Opens the member's session on the project, or resumes the active one from this box
  /// (audited `session.open` or `session.resume`).
  virtual Result<Session> open_session(const Session& session, const std::string& actor) = 0;
  virtual Result<std::vector<Session>> sessions() = 0;
  /// The active ones only (what ops watch; the table keeps every session ever opened).
  virtual Result<std::vector<Session>> active_sessions() = 0;
  virtual Result<Session> session(std::int64_t id) = 0;
  /// Ends an active session (logoff, or ended by staff); conflict when it has ended already.
  virtual Result<Session> end_session(std::int64_t id, const std::string& reason, const std::string& actor) = 0;

  /// Remembers when a box last had its tunnel open. Not audited: the tunnel's own records are.
  virtual Status record_box_contact(const std::string& name, TimePoint at) = 0;

  virtual Result<StaffMember> add_staff(const StaffMember& member, const std::string& actor) = 0;
  virtual Result<std::vector<StaffMember>> staff() = 0;
  virtual Result<StaffMember> staff_by_serial(const std::string& certificate_serial) = 0;
  /// Final: the certificate stops opening the API at its next request.
  virtual Result<StaffMember> revoke_staff(const std::string& name, const std::string& reason, const std::string& actor) = 0;

  /// An event with no other change (a login step, a refusal).
  virtual Result<AuditRecord> audit(const AuditEvent& event) = 0;
  virtual Result<std::vector<AuditRecord>> audit_records(const AuditQuery& query) = 0;
  /// The sequence number of the newest record (0: none); cheap, for followers of the trail.
  virtual Result<std::int64_t> audit_head() = 0;
  /// Recomputes the whole chain from the stored records.
  virtual Result<AuditVerification> verify_audit() = 0;
};

/// "2026-11-23" <-> Day; parse failures are usage errors naming the text.
Result<Day> parse_day(std::string_view text);
std::string format_day(Day day);
/// A certificate serial as people write it ("3A:F0:12", "3af012") -> "3af012", the form the store
/// and CRLs use; a usage error naming the text otherwise.
Result<std::string> normalise_serial(std::string_view text);
/// Whole seconds, UTC, "2026-11-23T08:30:00Z".
std::string format_time(TimePoint time);

}  // namespace sdbox::broker
