#include "store/sqlite_store.hpp"

#include "store/audit_chain.hpp"

#include "fake_clock.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

namespace sdbox::broker {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t code(StoreFailure failure) { return static_cast<std::int64_t>(failure); }

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> open() {
    auto store = SqliteStore::create({dir_ / "broker.db", &clock_});
    EXPECT_TRUE(store) << (store ? "" : store.error().describe());
    return store ? std::move(*store) : nullptr;
  }

  /// Runs SQL on the file the way someone with the sqlite3 shell would.
  void tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "broker.db").c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    const int result = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    const std::string text = message != nullptr ? message : "";
    sqlite3_free(message);
    sqlite3_close(db);
    ASSERT_EQ(result, SQLITE_OK) << text;
  }

  /// A site, a box, a user with a card, a project with a desktop, one membership.
  void populate(Store& store) {
    ASSERT_TRUE(store.add_site("paris", "local:admin"));
    ASSERT_TRUE(store.add_box({0, "box-1", "paris", "0a1b", "f00d", BoxState::active, "", {}}, "local:admin"));
    ASSERT_TRUE(store.add_user({0, "alice", "Alice Martin", UserState::active, {}}, "local:admin"));
    ASSERT_TRUE(store.add_card({0, "alice", "c0ffee", "beef", CardState::active, "", clock_.now()}, "local:admin"));
    ASSERT_TRUE(store.add_project({0, "census", "Census 2021 microdata"}, "local:admin"));
    ASSERT_TRUE(store.set_desktop({"census", "127.0.0.1", 3390}, "local:admin"));
    ASSERT_TRUE(store.add_membership({0, "alice", "census", *parse_day("2026-11-01"), *parse_day("2026-11-30")},
                                     "local:admin"));
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
};

TEST_F(SqliteStoreTest, CreatesTheSchemaAndKeepsDataAcrossReopening) {
  {
    auto store = open();
    populate(*store);
  }
  auto store = open();
  auto boxes = store->boxes();
  ASSERT_TRUE(boxes);
  ASSERT_EQ(boxes->size(), 1U);
  EXPECT_EQ(boxes->front().name, "box-1");
  EXPECT_EQ(boxes->front().site, "paris");
  EXPECT_EQ(boxes->front().state, BoxState::active);
  auto card = store->card_by_serial("c0ffee");
  ASSERT_TRUE(card);
  EXPECT_EQ(card->user, "alice");
  EXPECT_EQ(card->enrolled_at, clock_.now());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "broker.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "wal");
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, RefusesFilesItDidNotWriteOrFromANewerVersion) {
  { std::ofstream(dir_ / "garbage.db") << "this is not a database, just some text long enough to have a header"; }
  auto garbage = SqliteStore::create({dir_ / "garbage.db", &clock_});
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("garbage.db"), std::string::npos) << garbage.error().message;

  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "other.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE things (x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto other = SqliteStore::create({dir_ / "other.db", &clock_});
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("not an SD-Box store"), std::string::npos) << other.error().message;

  { open(); }
  tamper("PRAGMA user_version = 99");
  auto newer = SqliteStore::create({dir_ / "broker.db", &clock_});
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message.find("newer"), std::string::npos) << newer.error().message;

  auto missing = SqliteStore::create({dir_ / "absent.db", &clock_, false});
  EXPECT_FALSE(missing);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "absent.db"));
}

TEST_F(SqliteStoreTest, EveryChangeIsAuditedInItsOwnTransactionAndAFailedChangeLeavesNoRecord) {
  auto store = open();
  populate(*store);
  auto records = store->audit_records({});
  ASSERT_TRUE(records);
  std::vector<std::string> actions;
  for (const auto& record : *records) actions.push_back(record.event.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"site.add", "box.add", "user.add", "card.issue", "project.add",
                                               "desktop.set", "member.add"}));
  EXPECT_EQ(records->at(1).event.details.at("box"), "box-1");
  EXPECT_EQ(records->at(1).event.actor, "local:admin");

  auto duplicate = store->add_site("paris", "local:admin");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, code(StoreFailure::conflict));
  auto orphan = store->add_box({0, "box-2", "lyon", "0a1c", "f00e", BoxState::active, "", {}}, "local:admin");
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, code(StoreFailure::not_found));
  EXPECT_NE(orphan.error().message.find("lyon"), std::string::npos);
  auto same_certificate =
      store->add_box({0, "box-2", "paris", "0a1b", "f00e", BoxState::active, "", {}}, "local:admin");
  ASSERT_FALSE(same_certificate);
  auto after = store->audit_records({});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->size(), records->size());
  auto boxes = store->boxes();
  ASSERT_TRUE(boxes);
  EXPECT_EQ(boxes->size(), 1U);
}

TEST_F(SqliteStoreTest, CardSuspensionIsReversibleAndRevocationIsFinal) {
  auto store = open();
  populate(*store);
  auto suspended = store->set_card_state("c0ffee", CardState::suspended, "reported lost", "local:admin");
  ASSERT_TRUE(suspended);
  EXPECT_EQ(suspended->state, CardState::suspended);
  EXPECT_EQ(suspended->state_reason, "reported lost");
  ASSERT_TRUE(store->set_card_state("c0ffee", CardState::active, "found", "local:admin"));
  ASSERT_TRUE(store->set_card_state("c0ffee", CardState::revoked, "stolen", "local:admin"));
  auto back = store->set_card_state("c0ffee", CardState::active, "", "local:admin");
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, code(StoreFailure::conflict));
  EXPECT_NE(back.error().message.find("final"), std::string::npos);
  auto records = store->audit_records({0, 100, "card."});
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 4U);
  EXPECT_EQ(records->at(1).event.action, "card.suspend");
  EXPECT_EQ(records->at(2).event.action, "card.reinstate");
  EXPECT_EQ(records->at(3).event.action, "card.revoke");
  EXPECT_EQ(records->at(3).event.details.at("reason"), "stolen");

  ASSERT_TRUE(store->revoke_box("box-1", "stolen from the reading room", "local:admin"));
  EXPECT_FALSE(store->revoke_box("box-1", "again", "local:admin"));
  EXPECT_EQ(store->box("box-1")->state, BoxState::revoked);
}

TEST_F(SqliteStoreTest, MembershipWindowsIncludeBothEndsAndNothingOutside) {
  auto store = open();
  populate(*store);
  auto open_on = [&](const char* day) {
    auto projects = store->projects_open_to("alice", *parse_day(day));
    EXPECT_TRUE(projects);
    return projects ? projects->size() : 99U;
  };
  EXPECT_EQ(open_on("2026-10-31"), 0U);
  EXPECT_EQ(open_on("2026-11-01"), 1U);
  EXPECT_EQ(open_on("2026-11-30"), 1U);
  EXPECT_EQ(open_on("2026-12-01"), 0U);
  auto backwards = store->add_membership({0, "alice", "census", *parse_day("2026-12-01"), *parse_day("2026-11-01")},
                                         "local:admin");
  ASSERT_FALSE(backwards);
  EXPECT_EQ(backwards.error().code, code(StoreFailure::invalid));
  EXPECT_FALSE(parse_day("2026-02-30"));
  EXPECT_FALSE(parse_day("2026-1-01"));
  EXPECT_FALSE(parse_day("tomorrow"));
  EXPECT_EQ(format_day(*parse_day("2028-02-29")), "2028-02-29");
}

TEST_F(SqliteStoreTest, TheAuditTableRefusesUpdatesAndDeletes) {
  auto store = open();
  populate(*store);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "broker.db").c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit SET actor = 'nobody' WHERE sequence = 1", nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_NE(std::string(sqlite3_errmsg(db)).find("append-only"), std::string::npos);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM audit WHERE sequence = 2", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto verified = store->verify_audit();
  ASSERT_TRUE(verified);
  EXPECT_TRUE(verified->intact());
  EXPECT_EQ(verified->records, 7);
}

class AuditTamperingTest : public SqliteStoreTest, public ::testing::WithParamInterface<std::pair<const char*, const char*>> {};

TEST_P(AuditTamperingTest, VerificationFindsIt) {
  {
    auto store = open();
    populate(*store);
    auto before = store->verify_audit();
    ASSERT_TRUE(before);
    ASSERT_TRUE(before->intact());
  }
  // What an attacker with the sqlite3 shell would do: drop the guard, then change history.
  tamper(std::string("DROP TRIGGER audit_is_append_only_update; DROP TRIGGER audit_is_append_only_delete; ") +
         GetParam().second);
  auto store = open();
  auto verified = store->verify_audit();
  ASSERT_TRUE(verified);
  ASSERT_FALSE(verified->intact()) << GetParam().first;
  for (const auto& problem : verified->problems) std::cout << GetParam().first << ": " << problem << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Edits, AuditTamperingTest,
    ::testing::Values(
        std::pair{"edited", "UPDATE audit SET details = '{\"box\":\"box-9\",\"site\":\"paris\"}' WHERE sequence = 2"},
        std::pair{"deleted", "DELETE FROM audit WHERE sequence = 3"},
        std::pair{"inserted",
                  "INSERT INTO audit SELECT 8, at_ms, actor, action, outcome, details, hash, hash FROM audit "
                  "WHERE sequence = 7"},
        std::pair{"tail removed", "DELETE FROM audit WHERE sequence = 7"},
        std::pair{"actor edited",
                  "UPDATE audit SET actor = 'local:mallory' WHERE sequence = 4"}),
    [](const auto& test_info) {
      std::string name = test_info.param.first;
      for (auto& c : name) c = c == ' ' ? '_' : c;
      return name;
    });

TEST(AuditChainTest, CanonicalFormIsStableAndHashesLink) {
  AuditRecord record;
  record.sequence = 1;
  record.at = TimePoint(std::chrono::milliseconds(1795424400123));
  record.event = {"broker", "login.refused", "refused", {{"reason", "card_suspended"}, {"box", "box-1"}}};
  record.previous_hash = kGenesisHash;
  EXPECT_EQ(canonical_form(record),
            "{\"action\":\"login.refused\",\"actor\":\"broker\",\"at_ms\":1795424400123,\"details\":{\"box\":\"box-1\","
            "\"reason\":\"card_suspended\"},\"outcome\":\"refused\",\"previous\":\"" +
                kGenesisHash + "\",\"sequence\":1}");
  record.hash = chain_hash(record);
  EXPECT_EQ(record.hash.size(), 64U);
  AuditRecord next = record;
  next.sequence = 2;
  next.previous_hash = record.hash;
  next.hash = chain_hash(next);
  EXPECT_TRUE(verify_chain({record, next}, 2, next.hash).intact());
  EXPECT_FALSE(verify_chain({record, next}, 2, record.hash).intact());
  EXPECT_FALSE(verify_chain({next}, 2, next.hash).intact());
  EXPECT_TRUE(verify_chain({}, 0, "").intact());
}

TEST_F(SqliteStoreTest, DesktopAccountsAreKeptButTheirSecretNeverReachesTheAudit) {
  auto store = open();
  populate(*store);
  ASSERT_TRUE(store->set_desktop_account({"census", "alice", "amartin", "s3cret desktop password"}, "local:admin"));
  auto account = store->desktop_account("census", "alice");
  ASSERT_TRUE(account) << account.error().describe();
  EXPECT_EQ(account->login, "amartin");
  EXPECT_EQ(account->secret, "s3cret desktop password");
  ASSERT_TRUE(store->set_desktop_account({"census", "alice", "amartin", "rotated"}, "local:admin"));
  EXPECT_EQ(store->desktop_account("census", "alice")->secret, "rotated");

  auto records = store->audit_records({});
  ASSERT_TRUE(records);
  int accounts = 0;
  for (const auto& record : *records) {
    if (record.event.action == "desktop.account") ++accounts;
    EXPECT_EQ(record.event.details.dump().find("s3cret"), std::string::npos);
    EXPECT_EQ(record.event.details.dump().find("rotated"), std::string::npos);
  }
  EXPECT_EQ(accounts, 2);

  // Refused, and nothing recorded: unknown user or project, empty login, a bad pin.
  const auto before = records->size();
  EXPECT_FALSE(store->set_desktop_account({"census", "mallory", "m", "x"}, "local:admin"));
  EXPECT_FALSE(store->set_desktop_account({"nope", "alice", "a", "x"}, "local:admin"));
  EXPECT_FALSE(store->set_desktop_account({"census", "alice", "", "x"}, "local:admin"));
  EXPECT_FALSE(store->set_desktop({"census", "127.0.0.1", 3390, "ABCD"}, "local:admin"));
  EXPECT_FALSE(store->desktop_account("census", "bob"));
  EXPECT_EQ(store->audit_records({})->size(), before);

  const std::string pin(64, 'e');
  ASSERT_TRUE(store->set_desktop({"census", "127.0.0.1", 3390, pin, "unix:/run/desktop/control"}, "local:admin"));
  EXPECT_EQ(store->desktop("census")->certificate_sha256, pin);
  EXPECT_EQ(store->desktop("census")->logoff_endpoint, "unix:/run/desktop/control");
  EXPECT_FALSE(store->set_desktop({"census", "127.0.0.1", 3390, pin, "tcp://10.0.0.5:22"}, "local:admin"));
}

TEST_F(SqliteStoreTest, AVersionOneStoreIsMigratedWithItsData) {
  {
    auto store = open();
    populate(*store);
  }
  // What a version 1 file looked like: no pin column, no accounts table.
  tamper("DROP TABLE desktop_accounts; ALTER TABLE desktops DROP COLUMN certificate_sha256; "
         "ALTER TABLE desktops DROP COLUMN logoff_endpoint; DROP TABLE staff; DROP INDEX sessions_one_active; "
         "ALTER TABLE memberships DROP COLUMN ended_at; ALTER TABLE memberships DROP COLUMN end_reason; "
         "ALTER TABLE sessions DROP COLUMN end_reason; ALTER TABLE boxes DROP COLUMN last_seen_at; "
         "PRAGMA user_version = 1");
  auto store = open();
  ASSERT_TRUE(store);
  auto desktop = store->desktop("census");
  ASSERT_TRUE(desktop) << desktop.error().describe();
  EXPECT_EQ(desktop->port, 3390);
  EXPECT_EQ(desktop->certificate_sha256, "");
  EXPECT_TRUE(store->set_desktop_account({"census", "alice", "alice", "pw"}, "local:admin"));
  auto verified = store->verify_audit();
  ASSERT_TRUE(verified);
  EXPECT_TRUE(verified->intact());
}

TEST_F(SqliteStoreTest, AVersionThreeStoreKeepsOneActiveSessionPerMemberAndProject) {
  {
    auto store = open();
    populate(*store);
  }
  // Version 3 opened a new session row at every login and never ended one.
  tamper("DROP INDEX sessions_one_active; DROP TABLE staff; ALTER TABLE memberships DROP COLUMN ended_at; "
         "ALTER TABLE memberships DROP COLUMN end_reason; ALTER TABLE sessions DROP COLUMN end_reason; "
         "ALTER TABLE boxes DROP COLUMN last_seen_at; "
         "INSERT INTO sessions (user_id, box_id, project_id, state, started_at) VALUES (1, 1, 1, 'active', 100), "
         "(1, 1, 1, 'active', 200), (1, 1, 1, 'active', 300); PRAGMA user_version = 3");
  auto store = open();
  ASSERT_TRUE(store);
  auto sessions = store->sessions();
  ASSERT_TRUE(sessions);
  ASSERT_EQ(sessions->size(), 3U);
  EXPECT_EQ((*sessions)[0].state, SessionState::ended);
  EXPECT_EQ((*sessions)[0].end_reason, "superseded");
  EXPECT_EQ((*sessions)[1].state, SessionState::ended);
  EXPECT_EQ((*sessions)[2].state, SessionState::active);
  // The next login resumes the one left active.
  auto resumed = store->open_session({0, "alice", "box-1", "census", SessionState::active, {}, {}}, "broker");
  ASSERT_TRUE(resumed) << resumed.error().describe();
  EXPECT_EQ(resumed->id, (*sessions)[2].id);
}

TEST_F(SqliteStoreTest, ALoginResumesTheMembersSessionUntilItEnds) {
  auto store = open();
  populate(*store);
  ASSERT_TRUE(store->add_box({0, "box-2", "paris", "0a1c", "f00e", BoxState::active, "", {}}, "local:admin"));
  auto first = store->open_session({0, "alice", "box-1", "census", SessionState::active, {}, {}}, "broker");
  ASSERT_TRUE(first);
  auto again = store->open_session({0, "alice", "box-2", "census", SessionState::active, {}, {}}, "broker");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->box, "box-2");
  auto records = store->audit_records({0, 100, "session."});
  ASSERT_EQ(records->size(), 2U);
  EXPECT_EQ((*records)[0].event.action, "session.open");
  EXPECT_EQ((*records)[1].event.action, "session.resume");

  auto ended = store->end_session(first->id, "logged_off", "broker");
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->state, SessionState::ended);
  EXPECT_EQ(ended->end_reason, "logged_off");
  EXPECT_TRUE(ended->ended_at);
  auto twice = store->end_session(first->id, "logged_off", "broker");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, code(StoreFailure::conflict));
  EXPECT_EQ(store->end_session(999, "x", "broker").error().code, code(StoreFailure::not_found));
  EXPECT_TRUE(store->active_sessions()->empty());
  auto fresh = store->open_session({0, "alice", "box-1", "census", SessionState::active, {}, {}}, "broker");
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->id, first->id);
  ASSERT_EQ(store->active_sessions()->size(), 1u);
  EXPECT_EQ(store->active_sessions()->front().id, fresh->id);
  EXPECT_EQ(store->sessions()->size(), 2u);
  EXPECT_EQ(store->audit_records({0, 100, "session.end"})->size(), 1U);
}

TEST_F(SqliteStoreTest, AnEndedMembershipOpensNothingAndEndsOnce) {
  auto store = open();
  populate(*store);
  const auto today = *parse_day("2026-11-23");
  ASSERT_EQ(store->projects_open_to("alice", today)->size(), 1U);
  const auto id = store->memberships()->front().id;
  auto ended = store->end_membership(id, "left the project", "staff:root");
  ASSERT_TRUE(ended) << ended.error().describe();
  EXPECT_TRUE(ended->ended_at);
  EXPECT_EQ(ended->end_reason, "left the project");
  EXPECT_TRUE(store->projects_open_to("alice", today)->empty());
  EXPECT_EQ(store->end_membership(id, "again", "staff:root").error().code, code(StoreFailure::conflict));
  EXPECT_EQ(store->end_membership(id + 100, "x", "staff:root").error().code, code(StoreFailure::not_found));
  auto records = store->audit_records({0, 100, "member.end"});
  ASSERT_EQ(records->size(), 1U);
  EXPECT_EQ(records->front().event.actor, "staff:root");
  EXPECT_EQ(records->front().event.details["project"], "census");
}

TEST_F(SqliteStoreTest, StaffAreFoundByCertificateAndRevokedForGood) {
  auto store = open();
  ASSERT_TRUE(store->add_staff({0, "olga", StaffRole::ops, "5eed01", "ab", StaffState::active, {}}, "local:root"));
  auto duplicate = store->add_staff({0, "olga", StaffRole::admin, "5eed02", "ab", StaffState::active, {}}, "local:root");
  EXPECT_EQ(duplicate.error().code, code(StoreFailure::conflict));
  auto found = store->staff_by_serial("5eed01");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "olga");
  EXPECT_EQ(found->role, StaffRole::ops);
  EXPECT_EQ(found->state, StaffState::active);
  EXPECT_EQ(store->staff_by_serial("5eed02").error().code, code(StoreFailure::not_found));
  ASSERT_TRUE(store->revoke_staff("olga", "left", "local:root"));
  EXPECT_EQ(store->staff_by_serial("5eed01")->state, StaffState::revoked);
  EXPECT_EQ(store->revoke_staff("olga", "left", "local:root").error().code, code(StoreFailure::conflict));
  EXPECT_EQ(store->audit_records({0, 100, "staff."})->size(), 2U);
  EXPECT_EQ(staff_role_from("auditor"), StaffRole::auditor);
  EXPECT_FALSE(staff_role_from("root"));
}

TEST_F(SqliteStoreTest, ABoxsLastContactIsKeptWithoutAnAuditRecord) {
  auto store = open();
  populate(*store);
  EXPECT_FALSE(store->box("box-1")->last_seen);
  const auto head = *store->audit_head();
  ASSERT_TRUE(store->record_box_contact("box-1", clock_.now()));
  EXPECT_EQ(store->box("box-1")->last_seen, std::chrono::floor<std::chrono::seconds>(clock_.now()));
  EXPECT_EQ(*store->audit_head(), head);
}

TEST_F(SqliteStoreTest, AuditDetailsMustBeFlat) {
  auto store = open();
  auto nested = store->audit({"broker", "login.begin", "ok", {{"inner", {{"a", 1}}}}});
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().code, code(StoreFailure::invalid));
  auto no_actor = store->audit({"", "login.begin", "ok", nlohmann::json::object()});
  EXPECT_FALSE(no_actor);
  auto fine = store->audit({"broker", "login.begin", "ok", {{"box", "box-1"}, {"attempt", 2}}});
  ASSERT_TRUE(fine) << fine.error().describe();
  EXPECT_EQ(fine->sequence, 1);
  EXPECT_EQ(fine->previous_hash, kGenesisHash);
}

}  // namespace
}  // namespace sdbox::broker
