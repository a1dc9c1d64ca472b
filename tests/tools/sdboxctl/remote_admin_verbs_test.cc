#include "remote_admin_verbs.hpp"

#include "temp_dir.hpp"
#include "test_card.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/crypto.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace sdbox::ctl {
namespace {

using Json = nlohmann::json;
using sdbox::testing::read_file;
using sdbox::testing::TempDir;

struct Request {
  std::string method;
  std::string target;
  std::optional<Json> body;
};

/// The admin API as RemoteAdminVerbs sees it: every request recorded, answered by `answer`.
class FakeApi {
 public:
  std::function<Result<Json>(const Request&)> answer;
  std::vector<Request> requests;

  ApiCall call() {
    return [this](std::string_view method, std::string_view target, const std::optional<Json>& body) {
      requests.push_back({std::string(method), std::string(target), body});
      return answer(requests.back());
    };
  }
};

class RemoteAdminVerbsTest : public ::testing::Test {
 protected:
  RemoteAdminVerbs verbs() { return RemoteAdminVerbs::create({api_.call(), &out_}); }

  FakeApi api_;
  std::ostringstream out_;
  TempDir dir_;
};

Json audit_record(std::int64_t sequence) {
  return {{"sequence", sequence}, {"at", "2026-11-23T08:30:00Z"}, {"actor", "broker"}, {"action", "login.ok"},
          {"outcome", "ok"},      {"details", Json::object()},    {"hash", "h"}};
}

/// An audit trail of `total` records behind the API's 1000-record pages.
std::function<Result<Json>(const Request&)> audit_trail(std::int64_t total) {
  return [total](const Request& request) -> Result<Json> {
    std::int64_t after = 0;
    std::int64_t limit = 0;
    if (std::sscanf(request.target.c_str(), "/api/v1/audit?after=%ld&limit=%ld", &after, &limit) != 2 || limit > 1000) {
      return make_error(ErrorCategory::usage, "bad audit query " + request.target, 400);
    }
    Json page = Json::array();
    for (auto sequence = after + 1; sequence <= std::min(total, after + limit); ++sequence) page.push_back(audit_record(sequence));
    return page;
  };
}

TEST_F(RemoteAdminVerbsTest, AnAuditListingLongerThanThePageIsFetchedPageByPage) {
  api_.answer = audit_trail(2500);
  broker::AuditQuery query;
  query.limit = 2200;
  ASSERT_TRUE(verbs().list_audit(query, OutputFormat::json));
  ASSERT_EQ(api_.requests.size(), 3u);
  EXPECT_EQ(api_.requests[0].target, "/api/v1/audit?after=0&limit=1000");
  EXPECT_EQ(api_.requests[1].target, "/api/v1/audit?after=1000&limit=1000");
  EXPECT_EQ(api_.requests[2].target, "/api/v1/audit?after=2000&limit=200");
  const auto printed = Json::parse(out_.str());
  ASSERT_EQ(printed.size(), 2200u);
  EXPECT_EQ(printed.front()["sequence"], 1);
  EXPECT_EQ(printed.back()["sequence"], 2200);
}

TEST_F(RemoteAdminVerbsTest, AShortPageEndsTheAuditListingAndTheActionPrefixIsEncoded) {
  api_.answer = [trail = audit_trail(1500)](const Request& request) {
    auto cut = request.target.find("&action=");
    return trail({request.method, request.target.substr(0, cut), request.body});
  };
  broker::AuditQuery query;
  query.after_sequence = 100;
  query.limit = 5000;
  query.action_prefix = "card.&x";
  ASSERT_TRUE(verbs().list_audit(query, OutputFormat::text));
  ASSERT_EQ(api_.requests.size(), 2u);
  EXPECT_EQ(api_.requests[0].target, "/api/v1/audit?after=100&limit=1000&action=card.%26x");
  EXPECT_EQ(api_.requests[1].target, "/api/v1/audit?after=1100&limit=1000&action=card.%26x");
  const auto printed = out_.str();
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 1 + 1400) << "a header and 1400 records";
}

TEST_F(RemoteAdminVerbsTest, NamesInPathsAreEncoded) {
  EXPECT_EQ(path_segment("box-1_a.b~"), "box-1_a.b~");
  EXPECT_EQ(path_segment("a b/c?d%"), "a%20b%2Fc%3Fd%25");
  api_.answer = [](const Request&) -> Result<Json> {
    return Json{{"name", "a/b"}, {"site", "lyon"}, {"state", "revoked"}};
  };
  ASSERT_TRUE(verbs().revoke_box("a/b", "stolen"));
  ASSERT_EQ(api_.requests.size(), 1u);
  EXPECT_EQ(api_.requests[0].target, "/api/v1/boxes/a%2Fb/revoke");
  EXPECT_EQ(api_.requests[0].body, (Json{{"reason", "stolen"}}));
}

TEST_F(RemoteAdminVerbsTest, AnAnswerThatIsNotAListingPrintsNothing) {
  api_.answer = [](const Request&) -> Result<Json> { return Json{{"name", "lyon"}}; };
  auto listed = verbs().list_sites(OutputFormat::json);
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().category, ErrorCategory::io);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RemoteAdminVerbsTest, ABoxBundleIsWrittenFromTheAnswerWithAPrivateKey) {
  auto key = crypto::generate_ec_p256();
  crypto::CertificateRequest request;
  request.common_name = "box-1";
  request.validity = std::chrono::hours(24 * 30);
  auto certificate = crypto::issue_certificate(request, **key, **key, nullptr);
  ASSERT_TRUE(key && certificate);
  const auto certificate_pem = crypto::certificate_to_pem(**certificate);
  const auto key_pem = crypto::private_key_to_pem(**key);
  api_.answer = [&](const Request&) -> Result<Json> {
    return Json{{"box", {{"name", "box-1"}, {"site", "lyon"}, {"certificate_serial", "0a1b"}}},
                {"bundle", {{"client_crt", certificate_pem}, {"client_key", key_pem}, {"broker_ca_crt", certificate_pem}}}};
  };
  const auto bundle = dir_ / "bundles/box-1";
  ASSERT_TRUE(verbs().add_box({"box-1", "lyon", bundle, std::chrono::hours(24 * 30)}));
  EXPECT_EQ(api_.requests[0].body, (Json{{"name", "box-1"}, {"site", "lyon"}, {"validity_days", 30}}));
  EXPECT_EQ(read_file(bundle / "client.key"), key_pem);
  EXPECT_EQ(std::filesystem::status(bundle / "client.key").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(read_file(bundle / "client.crt"), certificate_pem);
  EXPECT_EQ(read_file(bundle / "broker-ca.crt"), certificate_pem);
  EXPECT_NE(out_.str().find("box 'box-1' added at site 'lyon': certificate serial 0a1b, valid until "), std::string::npos)
      << out_.str();
}

TEST_F(RemoteAdminVerbsTest, ABundleThatCannotBeWrittenIsRemovedAndTheErrorSaysTheBoxIsRegistered) {
  api_.answer = [](const Request&) -> Result<Json> {
    return Json{{"box", {{"name", "box-1"}}},
                {"bundle", {{"client_crt", "not a certificate"}, {"client_key", "k"}, {"broker_ca_crt", "c"}}}};
  };
  const auto bundle = dir_ / "new/box-1";
  auto added = verbs().add_box({"box-1", "lyon", bundle, std::chrono::hours(24)});
  ASSERT_FALSE(added);
  EXPECT_NE(added.error().message.find("box 'box-1' is registered at the broker"), std::string::npos)
      << added.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "new"));
}

TEST_F(RemoteAdminVerbsTest, ACardTheBrokerRegisteredButThatWasNotFinishedIsNamedForRevocation) {
  auto ca_key = crypto::generate_ec_p256();
  ASSERT_TRUE(ca_key);
  api_.answer = [&](const Request& request) -> Result<Json> {
    if (request.method == "GET") return Json::array({{{"login", "alice"}, {"full_name", "Alice Martin"}}});
    Bytes point;
    EXPECT_TRUE(from_hex(request.body->at("public_point_hex").get<std::string>(), point));
    EXPECT_EQ(request.body->at("validity_days"), 90);
    auto card_key = crypto::ec_public_key_from_point(point);
    crypto::CertificateRequest certificate_request;
    certificate_request.common_name = "Alice Martin";
    auto certificate = crypto::issue_certificate(certificate_request, **card_key, **ca_key, nullptr);
    return Json{{"card", {{"user", "alice"}, {"certificate_serial", "c0ffee"}}},
                {"certificate_pem", crypto::certificate_to_pem(**certificate)}};
  };
  std::optional<std::string> holder;
  const CardPersonaliser fails_after_the_certificate = [&](const std::string&, const CertificateIssuer& issue,
                                                           const CardProfile& profile) -> Result<PersonalisedCard> {
    holder = profile.holder_name;
    auto on_card = crypto::generate_ec_p256();
    if (auto issued = issue(**on_card, profile); !issued) return issued.error();
    return make_error(ErrorCategory::card, "changing the PIN: wrong current code, 2 tries left");
  };
  AdminActions::CardIssue issue;
  issue.login = "alice";
  issue.new_pin = "654321";
  issue.new_puk = "87654321";
  issue.validity = std::chrono::hours(24 * 90);
  auto issued = verbs().issue_card(issue, fails_after_the_certificate,
                                   [](std::string_view) -> Result<std::string> { return std::string("never asked"); });
  ASSERT_FALSE(issued);
  EXPECT_EQ(holder, "Alice Martin") << "the holder name is the broker's full name of the user";
  EXPECT_EQ(issued.error().category, ErrorCategory::card);
  EXPECT_NE(issued.error().message.find("the broker registered the card (certificate serial c0ffee)"), std::string::npos);
  EXPECT_NE(issued.error().message.find("card revoke --serial c0ffee"), std::string::npos) << issued.error().message;
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RemoteAdminVerbsTest, AnUnknownUserIsRefusedBeforeTheCardIsTouched) {
  api_.answer = [](const Request&) -> Result<Json> { return Json::array(); };
  bool touched = false;
  const CardPersonaliser personalise = [&](const std::string&, const CertificateIssuer&,
                                           const CardProfile&) -> Result<PersonalisedCard> {
    touched = true;
    return PersonalisedCard{};
  };
  AdminActions::CardIssue issue;
  issue.login = "nobody";
  auto issued = verbs().issue_card(issue, personalise, [](std::string_view) -> Result<std::string> { return std::string("123456"); });
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().message, "no user 'nobody'");
  EXPECT_FALSE(touched);
}

TEST_F(RemoteAdminVerbsTest, VerbsOfTheBrokerHostAreRefusedWithoutACall) {
  api_.answer = [](const Request&) -> Result<Json> { return Json::object(); };
  auto added = verbs().add_staff({"eve", broker::StaffRole::admin, dir_ / "eve", std::chrono::hours(24)});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().category, ErrorCategory::usage);
  EXPECT_NE(added.error().message.find("runs on the broker host only (it handles the CAs' keys)"), std::string::npos);
  EXPECT_FALSE(verbs().refresh_crls());
  EXPECT_FALSE(verbs().list_staff(OutputFormat::text));
  EXPECT_TRUE(api_.requests.empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "eve"));
}

TEST_F(RemoteAdminVerbsTest, EndingASessionSaysWhetherTheDesktopSessionWasLoggedOff) {
  api_.answer = [](const Request&) -> Result<Json> {
    return Json{{"id", 7}, {"user", "alice"}, {"box", "box-1"}, {"project", "census"}, {"state", "ended"},
                {"was_connected", true}, {"logged_off", false}};
  };
  ASSERT_TRUE(verbs().end_session(7, "incident 42"));
  EXPECT_EQ(api_.requests[0].method, "POST");
  EXPECT_EQ(api_.requests[0].target, "/api/v1/sessions/7/end");
  EXPECT_EQ(out_.str(),
            "session 7 of 'alice' in 'census' ended; its view on 'box-1' closed; the desktop session was NOT logged off "
            "(see desktop.logoff in the audit trail)\n");
}

}  // namespace
}  // namespace sdbox::ctl
