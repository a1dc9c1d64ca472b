#include "store/sqlite_store.hpp"

#include "store/audit_chain.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <array>
#include <concepts>
#include <functional>
#include <utility>

namespace sdbox::broker {

namespace {

using Json = nlohmann::json;

// Each step moves the schema from version N to N + 1; never edit a step once released, add one.
constexpr std::array<std::string_view, 4> kMigrations = {
    R"sql(
CREATE TABLE sites (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  created_at INTEGER NOT NULL
);
CREATE TABLE boxes (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  site_id INTEGER NOT NULL REFERENCES sites(id),
  certificate_serial TEXT NOT NULL UNIQUE,
  certificate_sha256 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
  state_reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  login TEXT NOT NULL UNIQUE CHECK (length(login) BETWEEN 1 AND 64),
  full_name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
  created_at INTEGER NOT NULL
);
CREATE TABLE cards (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  certificate_serial TEXT NOT NULL UNIQUE,
  certificate_sha256 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'revoked')),
  state_reason TEXT NOT NULL DEFAULT '',
  enrolled_at INTEGER NOT NULL
);
CREATE TABLE projects (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  title TEXT NOT NULL
);
CREATE TABLE memberships (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  project_id INTEGER NOT NULL REFERENCES projects(id),
  valid_from TEXT NOT NULL,
  valid_until TEXT NOT NULL,
  CHECK (valid_from <= valid_until)
);
CREATE INDEX memberships_by_user ON memberships(user_id);
CREATE TABLE desktops (
  project_id INTEGER PRIMARY KEY REFERENCES projects(id),
  host TEXT NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535)
);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  box_id INTEGER NOT NULL REFERENCES boxes(id),
  project_id INTEGER NOT NULL REFERENCES projects(id),
  state TEXT NOT NULL CHECK (state IN ('active', 'ended')),
  started_at INTEGER NOT NULL,
  ended_at INTEGER
);
CREATE TABLE audit (
  sequence INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  details TEXT NOT NULL,
  previous_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  sequence INTEGER NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, sequence, hash) VALUES (1, 0, '');
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
)sql",
    // 2: the desktop's pinned certificate, and each member's account on it (for the gateway).
    R"sql(
ALTER TABLE desktops ADD COLUMN certificate_sha256 TEXT NOT NULL DEFAULT ''
  CHECK (certificate_sha256 = '' OR (length(certificate_sha256) = 64 AND certificate_sha256 NOT GLOB '*[^0-9a-f]*'));
CREATE TABLE desktop_accounts (
  project_id INTEGER NOT NULL REFERENCES projects(id),
  user_id INTEGER NOT NULL REFERENCES users(id),
  login TEXT NOT NULL CHECK (length(login) BETWEEN 1 AND 104),
  secret TEXT NOT NULL CHECK (length(secret) <= 256),
  PRIMARY KEY (project_id, user_id)
);
)sql",
    // 3: how a member's desktop session is ended (logoff).
    R"sql(
ALTER TABLE desktops ADD COLUMN logoff_endpoint TEXT NOT NULL DEFAULT ''
  CHECK (logoff_endpoint = '' OR (logoff_endpoint GLOB 'unix:/*' AND length(logoff_endpoint) <= 110));
)sql",
    // 4: staff for the admin API; memberships ended early; one active desktop session per member
    // and project (earlier duplicates are closed as superseded); when each box was last seen.
    R"sql(
CREATE TABLE staff (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  role TEXT NOT NULL CHECK (role IN ('admin', 'ops', 'auditor')),
  certificate_serial TEXT NOT NULL UNIQUE,
  certificate_sha256 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
  created_at INTEGER NOT NULL
);
ALTER TABLE memberships ADD COLUMN ended_at INTEGER;
ALTER TABLE memberships ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
UPDATE sessions SET state = 'ended', ended_at = started_at, end_reason = 'superseded'
  WHERE state = 'active' AND id NOT IN (SELECT max(id) FROM sessions WHERE state = 'active' GROUP BY user_id, project_id);
CREATE UNIQUE INDEX sessions_one_active ON sessions(user_id, project_id) WHERE state = 'active';
ALTER TABLE boxes ADD COLUMN last_seen_at INTEGER;
)sql",
};

std::int64_t to_seconds(TimePoint time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}
TimePoint from_seconds(std::int64_t seconds) { return TimePoint(std::chrono::seconds(seconds)); }

template <class State, std::size_t N>
State state_from(std::string_view text, const std::array<State, N>& states) {
  for (State state : states) {
    if (to_string(state) == text) return state;
  }
  return states.front();  // the CHECK constraints make anything else impossible
}

/// One prepared statement; columns and parameters are numbered from 1 and 0 as in SQLite.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement_, nullptr) != SQLITE_OK) {
      failure_ = sqlite3_errmsg(db);
    }
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  template <class... Values>
  Statement& bind(const Values&... values) {
    int index = 1;
    (bind_one(index++, values), ...);
    return *this;
  }

  /// True while there is a row; a failure is an error naming SQLite's reason.
  Result<bool> step() {
    if (!failure_.empty()) return store_error(StoreFailure::storage, "SQL: " + failure_);
    const int code = sqlite3_step(statement_);
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    const int extended = sqlite3_extended_errcode(db_);
    const StoreFailure failure = (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY)
                                     ? StoreFailure::conflict
                                 : (code == SQLITE_CONSTRAINT) ? StoreFailure::invalid
                                                               : StoreFailure::storage;
    return store_error(failure, sqlite3_errmsg(db_));
  }
  Status run() {
    auto stepped = step();
    if (!stepped) return stepped.error();
    return {};
  }
  /// Runs an INSERT; a UNIQUE conflict becomes `conflict_message`, worded for people.
  Status run_unique(const std::string& conflict_message) {
    auto done = run();
    if (!done && is_store_failure(done.error(), StoreFailure::conflict)) {
      return store_error(StoreFailure::conflict, conflict_message);
    }
    return done;
  }

  std::int64_t integer(int column) { return sqlite3_column_int64(statement_, column); }
  bool is_null(int column) { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  std::string text(int column) {
    const auto* data = sqlite3_column_text(statement_, column);
    return data == nullptr ? std::string()
                           : std::string(reinterpret_cast<const char*>(data),
                                         static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
  }

 private:
  template <std::integral Integer>
  void bind_one(int index, Integer value) {
    sqlite3_bind_int64(statement_, index, static_cast<sqlite3_int64>(value));
  }
  void bind_one(int index, const std::string& value) {
    sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }
  void bind_one(int index, std::string_view value) {
    sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }
  void bind_one(int index, std::nullptr_t) { sqlite3_bind_null(statement_, index); }

  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
  std::string failure_;
};

/// Runs `query` and turns each row into a T.
template <class T, class Binder, class Reader>
Result<std::vector<T>> collect(sqlite3* db, std::string_view sql, Binder bind, Reader read) {
  Statement statement(db, sql);
  bind(statement);
  std::vector<T> rows;
  for (;;) {
    auto more = statement.step();
    if (!more) return more.error();
    if (!*more) return rows;
    rows.push_back(read(statement));
  }
}

template <class T>
Result<T> only_one(Result<std::vector<T>> rows, std::string what) {
  if (!rows) return rows.error();
  if (rows->empty()) return store_error(StoreFailure::not_found, std::move(what));
  return std::move(rows->front());
}

constexpr std::string_view kBoxColumns =
    "SELECT b.id, b.name, s.name, b.certificate_serial, b.certificate_sha256, b.state, b.state_reason, "
    "b.created_at, b.last_seen_at FROM boxes b JOIN sites s ON s.id = b.site_id ";
Box read_box(Statement& row) {
  Box box{row.integer(0), row.text(1), row.text(2), row.text(3), row.text(4),
          state_from(row.text(5), std::array{BoxState::active, BoxState::revoked}), row.text(6),
          from_seconds(row.integer(7))};
  if (!row.is_null(8)) box.last_seen = from_seconds(row.integer(8));
  return box;
}

constexpr std::string_view kUserColumns = "SELECT id, login, full_name, state, created_at FROM users ";
User read_user(Statement& row) {
  return User{row.integer(0), row.text(1), row.text(2),
              state_from(row.text(3), std::array{UserState::active, UserState::disabled}),
              from_seconds(row.integer(4))};
}

constexpr std::string_view kCardColumns =
    "SELECT c.id, u.login, c.certificate_serial, c.certificate_sha256, c.state, c.state_reason, c.enrolled_at "
    "FROM cards c JOIN users u ON u.id = c.user_id ";
Card read_card(Statement& row) {
  return Card{row.integer(0), row.text(1), row.text(2), row.text(3),
              state_from(row.text(4), std::array{CardState::active, CardState::suspended, CardState::revoked}),
              row.text(5), from_seconds(row.integer(6))};
}

constexpr std::string_view kMembershipColumns =
    "SELECT m.id, u.login, p.name, m.valid_from, m.valid_until, m.ended_at, m.end_reason FROM memberships m "
    "JOIN users u ON u.id = m.user_id JOIN projects p ON p.id = m.project_id ";
Membership read_membership(Statement& row) {
  auto from = parse_day(row.text(3));
  auto until = parse_day(row.text(4));
  Membership membership{row.integer(0), row.text(1), row.text(2), from ? *from : Day{}, until ? *until : Day{}};
  if (!row.is_null(5)) membership.ended_at = from_seconds(row.integer(5));
  membership.end_reason = row.text(6);
  return membership;
}

constexpr std::string_view kDesktopColumns =
    "SELECT p.name, d.host, d.port, d.certificate_sha256, d.logoff_endpoint FROM desktops d "
    "JOIN projects p ON p.id = d.project_id ";
Desktop read_desktop(Statement& row) {
  return Desktop{row.text(0), row.text(1), static_cast<std::uint16_t>(row.integer(2)), row.text(3), row.text(4)};
}

constexpr std::string_view kSessionColumns =
    "SELECT s.id, u.login, b.name, p.name, s.state, s.started_at, s.ended_at, s.end_reason FROM sessions s "
    "JOIN users u ON u.id = s.user_id JOIN boxes b ON b.id = s.box_id JOIN projects p ON p.id = s.project_id ";
Session read_session(Statement& row) {
  Session session{row.integer(0), row.text(1), row.text(2), row.text(3),
                  state_from(row.text(4), std::array{SessionState::active, SessionState::ended}),
                  from_seconds(row.integer(5)), std::nullopt, row.text(7)};
  if (!row.is_null(6)) session.ended_at = from_seconds(row.integer(6));
  return session;
}

constexpr std::string_view kStaffColumns =
    "SELECT id, name, role, certificate_serial, certificate_sha256, state, created_at FROM staff ";
StaffMember read_staff(Statement& row) {
  return StaffMember{row.integer(0), row.text(1), staff_role_from(row.text(2)).value_or(StaffRole::auditor),
                     row.text(3), row.text(4),
                     state_from(row.text(5), std::array{StaffState::active, StaffState::revoked}),
                     from_seconds(row.integer(6))};
}

AuditRecord read_audit(Statement& row) {
  AuditRecord record;
  record.sequence = row.integer(0);
  record.at = TimePoint(std::chrono::milliseconds(row.integer(1)));
  record.event.actor = row.text(2);
  record.event.action = row.text(3);
  record.event.outcome = row.text(4);
  // An edited row may not even be JSON; keep the raw text so the hash check reports it.
  record.event.details = Json::parse(row.text(5), nullptr, false);
  if (record.event.details.is_discarded()) record.event.details = row.text(5);
  record.previous_hash = row.text(6);
  record.hash = row.text(7);
  return record;
}

Status check_details(const Json& details) {
  if (!details.is_object()) return store_error(StoreFailure::invalid, "audit details must be a JSON object");
  for (const auto& [key, value] : details.items()) {
    if (!value.is_string() && !value.is_number_integer() && !value.is_boolean()) {
      return store_error(StoreFailure::invalid, "audit detail '" + key + "' must be a string, integer or boolean");
    }
  }
  return {};
}

}  // namespace

struct SqliteStore::Impl {
  sqlite3* db = nullptr;
  const Clock* clock = nullptr;

  ~Impl() { sqlite3_close_v2(db); }

  Status exec(std::string_view sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message != nullptr ? message : sqlite3_errmsg(db);
      sqlite3_free(message);
      return store_error(StoreFailure::storage, text);
    }
    return {};
  }

  /// Runs `change` and appends `event` in one IMMEDIATE transaction (the write lock is taken
  /// up front, so two writers never deadlock upgrading a read lock).
  template <class T>
  Result<T> in_transaction(const std::function<Result<T>()>& change, const std::function<AuditEvent(const T&)>& event) {
    if (auto begun = exec("BEGIN IMMEDIATE"); !begun) return begun.error();
    auto changed = change();
    if (changed) {
      auto recorded = append_audit(event(*changed));
      if (recorded) {
        if (auto committed = exec("COMMIT"); committed) return changed;
        else changed = committed.error();
      } else {
        changed = recorded.error();
      }
    }
    (void)exec("ROLLBACK");
    return changed;
  }

  Result<AuditRecord> append_audit(const AuditEvent& event) {
    if (auto checked = check_details(event.details); !checked) return checked.error();
    if (event.actor.empty() || event.action.empty()) {
      return store_error(StoreFailure::invalid, "an audit event needs an actor and an action");
    }
    Statement head(db, "SELECT sequence, hash FROM audit_head WHERE id = 1");
    auto found = head.step();
    if (!found) return found.error();
    if (!*found) return store_error(StoreFailure::storage, "the audit anchor is missing");
    AuditRecord record;
    record.sequence = head.integer(0) + 1;
    record.previous_hash = head.integer(0) == 0 ? kGenesisHash : head.text(1);
    record.at = std::chrono::time_point_cast<std::chrono::milliseconds>(clock->now());
    record.event = event;
    record.hash = chain_hash(record);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(record.at.time_since_epoch()).count();
    Statement insert(db,
                     "INSERT INTO audit (sequence, at_ms, actor, action, outcome, details, previous_hash, hash) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(record.sequence, static_cast<std::int64_t>(millis), event.actor, event.action, event.outcome,
                event.details.dump(-1, ' ', false, Json::error_handler_t::replace), record.previous_hash, record.hash);
    if (auto inserted = insert.run(); !inserted) return inserted.error();
    Statement move_head(db, "UPDATE audit_head SET sequence = ?, hash = ? WHERE id = 1");
    move_head.bind(record.sequence, record.hash);
    if (auto moved = move_head.run(); !moved) return moved.error();
    return record;
  }

  Result<std::int64_t> id_of(std::string_view table, std::string_view column, const std::string& value,
                             std::string_view what) {
    Statement query(db, fmt::format("SELECT id FROM {} WHERE {} = ?", table, column));
    query.bind(value);
    auto found = query.step();
    if (!found) return found.error();
    if (!*found) return store_error(StoreFailure::not_found, fmt::format("no {} named '{}'", what, value));
    return query.integer(0);
  }

  std::int64_t now_seconds() const { return to_seconds(clock->now()); }
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

int SqliteStore::schema_version() { return static_cast<int>(kMigrations.size()); }

Result<std::unique_ptr<SqliteStore>> SqliteStore::create(const Config& config) {
  if (config.clock == nullptr) throw std::invalid_argument("SqliteStore needs a clock");
  auto impl = std::make_unique<Impl>();
  impl->clock = config.clock;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (config.create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(config.file.c_str(), &impl->db, flags, nullptr) != SQLITE_OK) {
    return store_error(StoreFailure::storage, fmt::format("cannot open the store {}: {}", config.file.string(),
                                                          impl->db ? sqlite3_errmsg(impl->db) : "out of memory"));
  }
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, 5000);
  for (std::string_view pragma : {"PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON",
                                  "PRAGMA synchronous = NORMAL"}) {
    if (auto done = impl->exec(pragma); !done) {
      return store_error(StoreFailure::storage,
                         fmt::format("{} is not a usable SQLite file: {}", config.file.string(), done.error().message));
    }
  }
  Statement version_query(impl->db, "PRAGMA user_version");
  auto row = version_query.step();
  if (!row) return row.error();
  const auto version = version_query.integer(0);
  if (version > schema_version()) {
    return store_error(StoreFailure::invalid,
                       fmt::format("{} has schema version {}, newer than this build's {}: upgrade SD-Box",
                                   config.file.string(), version, schema_version()));
  }
  if (version == 0) {
    Statement tables(impl->db, "SELECT count(*) FROM sqlite_schema");
    auto counted = tables.step();
    if (!counted) return counted.error();
    if (tables.integer(0) != 0) {
      return store_error(StoreFailure::invalid, config.file.string() + " holds tables but is not an SD-Box store");
    }
  }
  for (auto step = version; step < schema_version(); ++step) {
    if (auto begun = impl->exec("BEGIN IMMEDIATE"); !begun) return begun.error();
    auto migrated = impl->exec(kMigrations.at(static_cast<std::size_t>(step)));
    if (migrated) migrated = impl->exec(fmt::format("PRAGMA user_version = {}", step + 1));
    if (migrated) migrated = impl->exec("COMMIT");
    if (!migrated) {
      (void)impl->exec("ROLLBACK");
      return store_error(StoreFailure::storage,
                         fmt::format("migrating the store to version {}: {}", step + 1, migrated.error().message));
    }
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

// ---- sites ----

Result<Site> SqliteStore::add_site(const std::string& name, const std::string& actor) {
  return impl_->in_transaction<Site>(
      [&]() -> Result<Site> {
        Site site{0, name, from_seconds(impl_->now_seconds())};
        Statement insert(impl_->db, "INSERT INTO sites (name, created_at) VALUES (?, ?)");
        insert.bind(name, to_seconds(site.created_at));
        if (auto done = insert.run_unique(fmt::format("a site named '{}' exists already", name)); !done) {
          return done.error();
        }
        site.id = sqlite3_last_insert_rowid(impl_->db);
        return site;
      },
      [&](const Site& site) { return AuditEvent{actor, "site.add", "ok", {{"site", site.name}}}; });
}

Result<std::vector<Site>> SqliteStore::sites() {
  return collect<Site>(
      impl_->db, "SELECT id, name, created_at FROM sites ORDER BY name", [](Statement&) {},
      [](Statement& row) { return Site{row.integer(0), row.text(1), from_seconds(row.integer(2))}; });
}

// ---- boxes ----

Result<Box> SqliteStore::add_box(const Box& box, const std::string& actor) {
  return impl_->in_transaction<Box>(
      [&]() -> Result<Box> {
        auto site_id = impl_->id_of("sites", "name", box.site, "site");
        if (!site_id) return site_id.error();
        Statement insert(impl_->db,
                         "INSERT INTO boxes (name, site_id, certificate_serial, certificate_sha256, state, created_at) "
                         "VALUES (?, ?, ?, ?, 'active', ?)");
        insert.bind(box.name, *site_id, box.certificate_serial, box.certificate_sha256, impl_->now_seconds());
        if (auto done = insert.run_unique(fmt::format("a box named '{}' exists already", box.name)); !done) {
          return done.error();
        }
        return this->box(box.name);
      },
      [&](const Box& added) {
        return AuditEvent{actor, "box.add", "ok",
                          {{"box", added.name}, {"site", added.site}, {"certificate_serial", added.certificate_serial}}};
      });
}

Result<std::vector<Box>> SqliteStore::boxes() {
  return collect<Box>(impl_->db, std::string(kBoxColumns) + "ORDER BY b.name", [](Statement&) {}, read_box);
}

Result<Box> SqliteStore::box(const std::string& name) {
  return only_one(collect<Box>(impl_->db, std::string(kBoxColumns) + "WHERE b.name = ?",
                               [&](Statement& s) { s.bind(name); }, read_box),
                  fmt::format("no box named '{}'", name));
}

Result<Box> SqliteStore::revoke_box(const std::string& name, const std::string& reason, const std::string& actor) {
  return impl_->in_transaction<Box>(
      [&]() -> Result<Box> {
        auto current = box(name);
        if (!current) return current.error();
        if (current->state == BoxState::revoked) {
          return store_error(StoreFailure::conflict, fmt::format("box '{}' is already revoked", name));
        }
        Statement update(impl_->db, "UPDATE boxes SET state = 'revoked', state_reason = ? WHERE name = ?");
        update.bind(reason, name);
        if (auto done = update.run(); !done) return done.error();
        return box(name);
      },
      [&](const Box& revoked) {
        return AuditEvent{actor, "box.revoke", "ok", {{"box", revoked.name}, {"reason", reason}}};
      });
}

// ---- users and cards ----

Result<User> SqliteStore::add_user(const User& user, const std::string& actor) {
  return impl_->in_transaction<User>(
      [&]() -> Result<User> {
        Statement insert(impl_->db, "INSERT INTO users (login, full_name, state, created_at) VALUES (?, ?, ?, ?)");
        insert.bind(user.login, user.full_name, to_string(user.state), impl_->now_seconds());
        if (auto done = insert.run_unique(fmt::format("a user '{}' exists already", user.login)); !done) {
          return done.error();
        }
        return this->user(user.login);
      },
      [&](const User& added) { return AuditEvent{actor, "user.add", "ok", {{"user", added.login}}}; });
}

Result<std::vector<User>> SqliteStore::users() {
  return collect<User>(impl_->db, std::string(kUserColumns) + "ORDER BY login", [](Statement&) {}, read_user);
}

Result<User> SqliteStore::user(const std::string& login) {
  return only_one(collect<User>(impl_->db, std::string(kUserColumns) + "WHERE login = ?",
                                [&](Statement& s) { s.bind(login); }, read_user),
                  fmt::format("no user '{}'", login));
}

Result<Card> SqliteStore::add_card(const Card& card, const std::string& actor) {
  return impl_->in_transaction<Card>(
      [&]() -> Result<Card> {
        auto user_id = impl_->id_of("users", "login", card.user, "user");
        if (!user_id) return user_id.error();
        Statement insert(impl_->db,
                         "INSERT INTO cards (user_id, certificate_serial, certificate_sha256, state, enrolled_at) "
                         "VALUES (?, ?, ?, 'active', ?)");
        insert.bind(*user_id, card.certificate_serial, card.certificate_sha256, to_seconds(card.enrolled_at));
        if (auto done = insert.run_unique(fmt::format("a card with certificate serial {} exists already", card.certificate_serial)); !done) {
          return done.error();
        }
        return card_by_serial(card.certificate_serial);
      },
      [&](const Card& added) {
        return AuditEvent{actor, "card.issue", "ok",
                          {{"user", added.user}, {"certificate_serial", added.certificate_serial}}};
      });
}

Result<std::vector<Card>> SqliteStore::cards() {
  return collect<Card>(impl_->db, std::string(kCardColumns) + "ORDER BY u.login, c.id", [](Statement&) {},
                       read_card);
}

Result<Card> SqliteStore::card_by_serial(const std::string& certificate_serial) {
  return only_one(collect<Card>(impl_->db, std::string(kCardColumns) + "WHERE c.certificate_serial = ?",
                                [&](Statement& s) { s.bind(certificate_serial); }, read_card),
                  fmt::format("no card with certificate serial {}", certificate_serial));
}

Result<Card> SqliteStore::set_card_state(const std::string& certificate_serial, CardState state,
                                         const std::string& reason, const std::string& actor) {
  return impl_->in_transaction<Card>(
      [&]() -> Result<Card> {
        auto current = card_by_serial(certificate_serial);
        if (!current) return current.error();
        if (current->state == CardState::revoked) {
          return store_error(StoreFailure::conflict,
                             fmt::format("card {} is revoked, which is final", certificate_serial));
        }
        if (current->state == state) {
          return store_error(StoreFailure::conflict,
                             fmt::format("card {} is already {}", certificate_serial, to_string(state)));
        }
        Statement update(impl_->db, "UPDATE cards SET state = ?, state_reason = ? WHERE certificate_serial = ?");
        update.bind(to_string(state), reason, certificate_serial);
        if (auto done = update.run(); !done) return done.error();
        return card_by_serial(certificate_serial);
      },
      [&](const Card& changed) {
        const std::string action = state == CardState::active      ? "card.reinstate"
                                   : state == CardState::suspended ? "card.suspend"
                                                                   : "card.revoke";
        return AuditEvent{actor, action, "ok",
                          {{"user", changed.user}, {"certificate_serial", changed.certificate_serial}, {"reason", reason}}};
      });
}

// ---- projects, memberships, desktops ----

Result<Project> SqliteStore::add_project(const Project& project, const std::string& actor) {
  return impl_->in_transaction<Project>(
      [&]() -> Result<Project> {
        Statement insert(impl_->db, "INSERT INTO projects (name, title) VALUES (?, ?)");
        insert.bind(project.name, project.title);
        if (auto done = insert.run_unique(fmt::format("a project named '{}' exists already", project.name)); !done) {
          return done.error();
        }
        return Project{sqlite3_last_insert_rowid(impl_->db), project.name, project.title};
      },
      [&](const Project& added) { return AuditEvent{actor, "project.add", "ok", {{"project", added.name}}}; });
}

Result<std::vector<Project>> SqliteStore::projects() {
  return collect<Project>(
      impl_->db, "SELECT id, name, title FROM projects ORDER BY name", [](Statement&) {},
      [](Statement& row) { return Project{row.integer(0), row.text(1), row.text(2)}; });
}

Result<Membership> SqliteStore::add_membership(const Membership& membership, const std::string& actor) {
  if (membership.until < membership.from) {
    return store_error(StoreFailure::invalid, fmt::format("the membership ends ({}) before it starts ({})",
                                                          format_day(membership.until), format_day(membership.from)));
  }
  return impl_->in_transaction<Membership>(
      [&]() -> Result<Membership> {
        auto user_id = impl_->id_of("users", "login", membership.user, "user");
        if (!user_id) return user_id.error();
        auto project_id = impl_->id_of("projects", "name", membership.project, "project");
        if (!project_id) return project_id.error();
        Statement insert(impl_->db,
                         "INSERT INTO memberships (user_id, project_id, valid_from, valid_until) VALUES (?, ?, ?, ?)");
        insert.bind(*user_id, *project_id, format_day(membership.from), format_day(membership.until));
        if (auto done = insert.run(); !done) return done.error();
        Membership added = membership;
        added.id = sqlite3_last_insert_rowid(impl_->db);
        return added;
      },
      [&](const Membership& added) {
        return AuditEvent{actor, "member.add", "ok",
                          {{"user", added.user},
                           {"project", added.project},
                           {"from", format_day(added.from)},
                           {"until", format_day(added.until)}}};
      });
}

Result<std::vector<Membership>> SqliteStore::memberships() {
  return collect<Membership>(impl_->db, std::string(kMembershipColumns) + "ORDER BY u.login, p.name, m.valid_from",
                             [](Statement&) {}, read_membership);
}

Result<Membership> SqliteStore::end_membership(std::int64_t id, const std::string& reason, const std::string& actor) {
  auto find = [&]() {
    return only_one(collect<Membership>(impl_->db, std::string(kMembershipColumns) + "WHERE m.id = ?",
                                        [&](Statement& s) { s.bind(id); }, read_membership),
                    fmt::format("no membership {}", id));
  };
  return impl_->in_transaction<Membership>(
      [&]() -> Result<Membership> {
        auto current = find();
        if (!current) return current.error();
        if (current->ended_at) return store_error(StoreFailure::conflict, fmt::format("membership {} has ended already", id));
        Statement update(impl_->db, "UPDATE memberships SET ended_at = ?, end_reason = ? WHERE id = ?");
        update.bind(impl_->now_seconds(), reason, id);
        if (auto done = update.run(); !done) return done.error();
        return find();
      },
      [&](const Membership& ended) {
        return AuditEvent{actor, "member.end", "ok",
                          {{"membership", ended.id}, {"user", ended.user}, {"project", ended.project}, {"reason", reason}}};
      });
}

Result<std::vector<Project>> SqliteStore::projects_open_to(const std::string& login, Day day) {
  const std::string today = format_day(day);
  return collect<Project>(
      impl_->db,
      "SELECT DISTINCT p.id, p.name, p.title FROM memberships m JOIN users u ON u.id = m.user_id "
      "JOIN projects p ON p.id = m.project_id WHERE u.login = ? AND m.valid_from <= ? AND ? <= m.valid_until "
      "AND m.ended_at IS NULL ORDER BY p.name",
      [&](Statement& s) { s.bind(login, today, today); },
      [](Statement& row) { return Project{row.integer(0), row.text(1), row.text(2)}; });
}

Result<Desktop> SqliteStore::set_desktop(const Desktop& desktop, const std::string& actor) {
  if (desktop.host.empty() || desktop.port == 0) {
    return store_error(StoreFailure::invalid, "a desktop needs a host and a port between 1 and 65535");
  }
  if (!desktop.certificate_sha256.empty() &&
      (desktop.certificate_sha256.size() != 64 || desktop.certificate_sha256.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return store_error(StoreFailure::invalid, "a desktop's certificate SHA-256 is 64 lowercase hex digits");
  }
  if (!desktop.logoff_endpoint.empty() &&
      (desktop.logoff_endpoint.rfind("unix:/", 0) != 0 || desktop.logoff_endpoint.size() > 110)) {
    return store_error(StoreFailure::invalid, "a desktop's logoff endpoint is unix:/absolute/path (at most 110 characters)");
  }
  return impl_->in_transaction<Desktop>(
      [&]() -> Result<Desktop> {
        auto project_id = impl_->id_of("projects", "name", desktop.project, "project");
        if (!project_id) return project_id.error();
        Statement upsert(impl_->db,
                         "INSERT INTO desktops (project_id, host, port, certificate_sha256, logoff_endpoint) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (project_id) DO UPDATE SET host = excluded.host, port = excluded.port, "
                         "certificate_sha256 = excluded.certificate_sha256, logoff_endpoint = excluded.logoff_endpoint");
        upsert.bind(*project_id, desktop.host, static_cast<std::int64_t>(desktop.port), desktop.certificate_sha256,
                    desktop.logoff_endpoint);
        if (auto done = upsert.run(); !done) return done.error();
        return desktop;
      },
      [&](const Desktop& set) {
        return AuditEvent{actor, "desktop.set", "ok",
                          {{"project", set.project},
                           {"host", set.host},
                           {"port", static_cast<int>(set.port)},
                           {"certificate_sha256", set.certificate_sha256},
                           {"logoff_endpoint", set.logoff_endpoint}}};
      });
}

Result<DesktopAccount> SqliteStore::set_desktop_account(const DesktopAccount& account, const std::string& actor) {
  if (account.login.empty() || account.login.size() > 104) {
    return store_error(StoreFailure::invalid, "a desktop account needs a login of 1 to 104 characters");
  }
  if (account.secret.size() > 256 || account.secret.find('\0') != std::string::npos) {
    return store_error(StoreFailure::invalid, "a desktop account's password is at most 256 characters, without NUL");
  }
  return impl_->in_transaction<DesktopAccount>(
      [&]() -> Result<DesktopAccount> {
        auto project_id = impl_->id_of("projects", "name", account.project, "project");
        if (!project_id) return project_id.error();
        auto user_id = impl_->id_of("users", "login", account.user, "user");
        if (!user_id) return user_id.error();
        Statement upsert(impl_->db,
                         "INSERT INTO desktop_accounts (project_id, user_id, login, secret) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (project_id, user_id) DO UPDATE SET login = excluded.login, secret = excluded.secret");
        upsert.bind(*project_id, *user_id, account.login, account.secret);
        if (auto done = upsert.run(); !done) return done.error();
        return account;
      },
      [&](const DesktopAccount& set) {
        // Never the secret: the audit trail is read by auditors.
        return AuditEvent{actor, "desktop.account", "ok", {{"project", set.project}, {"user", set.user}, {"login", set.login}}};
      });
}

Result<DesktopAccount> SqliteStore::desktop_account(const std::string& project, const std::string& user) {
  return only_one(collect<DesktopAccount>(
                      impl_->db,
                      "SELECT p.name, u.login, a.login, a.secret FROM desktop_accounts a JOIN projects p ON p.id = a.project_id "
                      "JOIN users u ON u.id = a.user_id WHERE p.name = ? AND u.login = ?",
                      [&](Statement& s) { s.bind(project, user); },
                      [](Statement& row) { return DesktopAccount{row.text(0), row.text(1), row.text(2), row.text(3)}; }),
                  fmt::format("'{}' has no account on the desktop of project '{}'", user, project));
}

Result<Desktop> SqliteStore::desktop(const std::string& project) {
  return only_one(collect<Desktop>(impl_->db, std::string(kDesktopColumns) + "WHERE p.name = ?",
                                   [&](Statement& s) { s.bind(project); }, read_desktop),
                  fmt::format("project '{}' has no desktop", project));
}

Result<std::vector<Desktop>> SqliteStore::desktops() {
  return collect<Desktop>(impl_->db, std::string(kDesktopColumns) + "ORDER BY p.name", [](Statement&) {},
                          read_desktop);
}

// ---- sessions ----

Result<Session> SqliteStore::open_session(const Session& session, const std::string& actor) {
  bool resumed = false;
  return impl_->in_transaction<Session>(
      [&]() -> Result<Session> {
        auto user_id = impl_->id_of("users", "login", session.user, "user");
        if (!user_id) return user_id.error();
        auto box_id = impl_->id_of("boxes", "name", session.box, "box");
        if (!box_id) return box_id.error();
        auto project_id = impl_->id_of("projects", "name", session.project, "project");
        if (!project_id) return project_id.error();
        Statement resume(impl_->db,
                         "UPDATE sessions SET box_id = ? WHERE user_id = ? AND project_id = ? AND state = 'active' "
                         "RETURNING id");
        resume.bind(*box_id, *user_id, *project_id);
        auto found = resume.step();
        if (!found) return found.error();
        std::int64_t id = 0;
        if (*found) {
          resumed = true;
          id = resume.integer(0);
        } else {
          Statement insert(impl_->db,
                           "INSERT INTO sessions (user_id, box_id, project_id, state, started_at) "
                           "VALUES (?, ?, ?, 'active', ?)");
          insert.bind(*user_id, *box_id, *project_id, impl_->now_seconds());
          if (auto done = insert.run(); !done) return done.error();
          id = sqlite3_last_insert_rowid(impl_->db);
        }
        return this->session(id);
      },
      [&](const Session& opened) {
        return AuditEvent{actor, resumed ? "session.resume" : "session.open", "ok",
                          {{"session", opened.id}, {"user", opened.user}, {"box", opened.box}, {"project", opened.project}}};
      });
}

Result<std::vector<Session>> SqliteStore::sessions() {
  return collect<Session>(impl_->db, std::string(kSessionColumns) + "ORDER BY s.id", [](Statement&) {},
                          read_session);
}

Result<std::vector<Session>> SqliteStore::active_sessions() {
  return collect<Session>(impl_->db, std::string(kSessionColumns) + "WHERE s.state = 'active' ORDER BY s.id",
                          [](Statement&) {}, read_session);
}

Result<Session> SqliteStore::session(std::int64_t id) {
  return only_one(collect<Session>(impl_->db, std::string(kSessionColumns) + "WHERE s.id = ?",
                                   [&](Statement& s) { s.bind(id); }, read_session),
                  fmt::format("no session {}", id));
}

Result<Session> SqliteStore::end_session(std::int64_t id, const std::string& reason, const std::string& actor) {
  return impl_->in_transaction<Session>(
      [&]() -> Result<Session> {
        auto current = session(id);
        if (!current) return current.error();
        if (current->state == SessionState::ended) {
          return store_error(StoreFailure::conflict, fmt::format("session {} has ended already", id));
        }
        Statement update(impl_->db, "UPDATE sessions SET state = 'ended', ended_at = ?, end_reason = ? WHERE id = ?");
        update.bind(impl_->now_seconds(), reason, id);
        if (auto done = update.run(); !done) return done.error();
        return session(id);
      },
      [&](const Session& ended) {
        return AuditEvent{actor, "session.end", "ok",
                          {{"session", ended.id}, {"user", ended.user}, {"box", ended.box}, {"project", ended.project},
                           {"reason", reason}}};
      });
}

Status SqliteStore::record_box_contact(const std::string& name, TimePoint at) {
  Statement update(impl_->db, "UPDATE boxes SET last_seen_at = ? WHERE name = ?");
  update.bind(to_seconds(at), name);
  return update.run();
}

// ---- staff ----

Result<StaffMember> SqliteStore::add_staff(const StaffMember& member, const std::string& actor) {
  return impl_->in_transaction<StaffMember>(
      [&]() -> Result<StaffMember> {
        Statement insert(impl_->db,
                         "INSERT INTO staff (name, role, certificate_serial, certificate_sha256, state, created_at) "
                         "VALUES (?, ?, ?, ?, 'active', ?)");
        insert.bind(member.name, to_string(member.role), member.certificate_serial, member.certificate_sha256,
                    impl_->now_seconds());
        if (auto done = insert.run_unique(fmt::format("a member of staff named '{}' exists already", member.name)); !done) {
          return done.error();
        }
        return staff_by_serial(member.certificate_serial);
      },
      [&](const StaffMember& added) {
        return AuditEvent{actor, "staff.add", "ok",
                          {{"staff", added.name}, {"role", std::string(to_string(added.role))},
                           {"certificate_serial", added.certificate_serial}}};
      });
}

Result<std::vector<StaffMember>> SqliteStore::staff() {
  return collect<StaffMember>(impl_->db, std::string(kStaffColumns) + "ORDER BY name", [](Statement&) {}, read_staff);
}

Result<StaffMember> SqliteStore::staff_by_serial(const std::string& certificate_serial) {
  return only_one(collect<StaffMember>(impl_->db, std::string(kStaffColumns) + "WHERE certificate_serial = ?",
                                       [&](Statement& s) { s.bind(certificate_serial); }, read_staff),
                  fmt::format("no member of staff with certificate serial {}", certificate_serial));
}

Result<StaffMember> SqliteStore::revoke_staff(const std::string& name, const std::string& reason, const std::string& actor) {
  auto find = [&]() {
    return only_one(collect<StaffMember>(impl_->db, std::string(kStaffColumns) + "WHERE name = ?",
                                         [&](Statement& s) { s.bind(name); }, read_staff),
                    fmt::format("no member of staff named '{}'", name));
  };
  return impl_->in_transaction<StaffMember>(
      [&]() -> Result<StaffMember> {
        auto current = find();
        if (!current) return current.error();
        if (current->state == StaffState::revoked) {
          return store_error(StoreFailure::conflict, fmt::format("'{}' is already revoked", name));
        }
        Statement update(impl_->db, "UPDATE staff SET state = 'revoked' WHERE name = ?");
        update.bind(name);
        if (auto done = update.run(); !done) return done.error();
        return find();
      },
      [&](const StaffMember& revoked) {
        return AuditEvent{actor, "staff.revoke", "ok", {{"staff", revoked.name}, {"reason", reason}}};
      });
}

// ---- audit ----

Result<AuditRecord> SqliteStore::audit(const AuditEvent& event) {
  if (auto begun = impl_->exec("BEGIN IMMEDIATE"); !begun) return begun.error();
  auto record = impl_->append_audit(event);
  if (record) {
    if (auto committed = impl_->exec("COMMIT"); committed) return record;
    else record = committed.error();
  }
  (void)impl_->exec("ROLLBACK");
  return record;
}

Result<std::vector<AuditRecord>> SqliteStore::audit_records(const AuditQuery& query) {
  return collect<AuditRecord>(
      impl_->db,
      "SELECT sequence, at_ms, actor, action, outcome, details, previous_hash, hash FROM audit "
      "WHERE sequence > ? AND substr(action, 1, length(?)) = ? ORDER BY sequence LIMIT ?",
      [&](Statement& s) {
        s.bind(query.after_sequence, query.action_prefix, query.action_prefix, static_cast<std::int64_t>(query.limit));
      },
      read_audit);
}

Result<std::int64_t> SqliteStore::audit_head() {
  Statement head(impl_->db, "SELECT sequence FROM audit_head WHERE id = 1");
  auto row = head.step();
  if (!row) return row.error();
  if (!*row) return store_error(StoreFailure::storage, "the audit anchor is missing");
  return head.integer(0);
}

Result<AuditVerification> SqliteStore::verify_audit() {
  // One read transaction, so the records and the anchor are seen at the same instant.
  if (auto begun = impl_->exec("BEGIN"); !begun) return begun.error();
  auto records = collect<AuditRecord>(
      impl_->db,
      "SELECT sequence, at_ms, actor, action, outcome, details, previous_hash, hash FROM audit ORDER BY sequence",
      [](Statement&) {}, read_audit);
  Statement head(impl_->db, "SELECT sequence, hash FROM audit_head WHERE id = 1");
  auto row = head.step();
  (void)impl_->exec("COMMIT");
  if (!records) return records.error();
  if (!row) return row.error();
  if (!*row) {
    AuditVerification missing;
    missing.records = static_cast<std::int64_t>(records->size());
    missing.problems.emplace_back("the audit anchor row is missing");
    return missing;
  }
  return verify_chain(*records, head.integer(0), head.text(1));
}

}  // namespace sdbox::broker
