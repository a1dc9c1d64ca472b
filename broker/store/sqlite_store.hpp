#pragma once

#include "store/store.hpp"

#include "sdbox/common/clock.hpp"

#include <filesystem>
#include <memory>

namespace sdbox::broker {

/// The embedded store: one SQLite file in WAL mode with foreign keys on, schema migrations by
/// `PRAGMA user_version`, and the audit table append-only (triggers refuse UPDATE and DELETE).
/// Several processes (the broker and sdboxctl) may open the same file.
class SqliteStore final : public Store {
 public:
  struct Config {
    std::filesystem::path file;
    const Clock* clock = nullptr;  ///< required
    bool create = true;            ///< false: refuse a file that does not exist yet
  };

  /// Opens (or creates) the file and brings its schema up to date. A file written by a newer
  /// version, or that is not an SD-Box store, is refused.
  static Result<std::unique_ptr<SqliteStore>> create(const Config& config);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  /// The schema version this build writes.
  static int schema_version();

  Result<Site> add_site(const std::string& name, const std::string& actor) override;
  Result<std::vector<Site>> sites() override;
  Result<Box> add_box(const Box& box, const std::string& actor) override;
  Result<std::vector<Box>> boxes() override;
  Result<Box> box(const std::string& name) override;
  Result<Box> revoke_box(const std::string& name, const std::string& reason, const std::string& actor) override;
  Result<User> add_user(const User& user, const std::string& actor) override;
  Result<std::vector<User>> users() override;
  Result<User> user(const std::string& login) override;
  Result<Card> add_card(const Card& card, const std::string& actor) override;
  Result<std::vector<Card>> cards() override;
  Result<Card> card_by_serial(const std::string& certificate_serial) override;
  Result<Card> set_card_state(const std::string& certificate_serial, CardState state, const std::string& reason,
                              const std::string& actor) override;
  Result<Project> add_project(const Project& project, const std::string& actor) override;
  Result<std::vector<Project>> projects() override;
  Result<Membership> add_membership(const Membership& membership, const std::string& actor) override;
  Result<std::vector<Membership>> memberships() override;
  Result<Membership> end_membership(std::int64_t id, const std::string& reason, const std::string& actor) override;
  Result<std::vector<Project>> projects_open_to(const std::string& login, Day day) override;
  Result<Desktop> set_desktop(const Desktop& desktop, const std::string& actor) override;
  Result<Desktop> desktop(const std::string& project) override;
  Result<DesktopAccount> set_desktop_account(const DesktopAccount& account, const std::string& actor) override;
  Result<DesktopAccount> desktop_account(const std::string& project, const std::string& user) override;
  Result<std::vector<Desktop>> desktops() override;
  Result<Session> open_session(const Session& session, const std::string& actor) override;
  Result<std::vector<Session>> sessions() override;
  Result<std::vector<Session>> active_sessions() override;
  Result<Session> session(std::int64_t id) override;
  Result<Session> end_session(std::int64_t id, const std::string& reason, const std::string& actor) override;
  Status record_box_contact(const std::string& name, TimePoint at) override;
  Result<StaffMember> add_staff(const StaffMember& member, const std::string& actor) override;
  Result<std::vector<StaffMember>> staff() override;
  Result<StaffMember> staff_by_serial(const std::string& certificate_serial) override;
  Result<StaffMember> revoke_staff(const std::string& name, const std::string& reason, const std::string& actor) override;
  Result<AuditRecord> audit(const AuditEvent& event) override;
  Result<std::vector<AuditRecord>> audit_records(const AuditQuery& query) override;
  Result<std::int64_t> audit_head() override;
  Result<AuditVerification> verify_audit() override;

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sdbox::broker
