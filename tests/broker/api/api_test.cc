// The admin and ops API over loopback HTTPS with staff certificates made in the test, in front of
// a whole broker (api_fixture.hpp).
#include "api_fixture.hpp"

namespace sdbox::broker::api_testing {
namespace {

const Json kReason = {{"reason", "test"}};

TEST_F(ApiTest, NothingIsReachableWithoutTheCertificateOfAnActiveMemberOfStaff) {
  // A box's certificate (boxes CA) does not even complete the handshake.
  auto as_box = request_from(dir_ / "box-1", "GET", "/api/v1/whoami");
  ASSERT_FALSE(as_box);
  EXPECT_EQ(as_box.error().category, ErrorCategory::crypto) << as_box.error().describe();
  // From the staff CA but nobody in the store: every path answers 403 unknown_staff.
  for (const char* target : {"/api/v1/whoami", "/metrics", "/", "/api/v1/sessions", "/nothing"}) {
    auto answer = call("mallory", "GET", target);
    EXPECT_EQ(answer.status, 403) << target;
    EXPECT_EQ(answer.body["error"]["reason"], "unknown_staff") << target;
  }
  auto me = call("olga", "GET", "/api/v1/whoami");
  EXPECT_EQ(me.status, 200);
  EXPECT_EQ(me.body, (Json{{"name", "olga"}, {"role", "ops"}}));
  // Revoked: out at the very next request.
  ASSERT_TRUE(store_->revoke_staff("olga", "left", "test"));
  auto after = call("olga", "GET", "/api/v1/whoami");
  EXPECT_EQ(after.status, 403);
  EXPECT_EQ(after.body["error"]["reason"], "unknown_staff");
}

TEST_F(ApiTest, EachRoleMakesOnlyTheCallsItIsAllowed) {
  struct Case {
    const char* who;
    const char* method;
    std::string target;
    Json body;
    int status;
  };
  const std::string card = "/api/v1/cards/" + card_serial_;
  const Json new_card = {{"user", "alice"}, {"public_point_hex", "04" + std::string(128, 'a')}};
  const std::vector<Case> cases = {
      {"audrey", "POST", "/api/v1/sessions/1/end", kReason, 403},  // an auditor cannot end a session
      {"audrey", "POST", card + "/suspend", kReason, 403},
      {"audrey", "GET", "/api/v1/audit", nullptr, 200},
      {"audrey", "GET", "/api/v1/audit/verify", nullptr, 200},
      {"audrey", "GET", "/api/v1/sessions", nullptr, 200},
      {"olga", "POST", "/api/v1/cards", new_card, 403},  // ops cannot issue cards
      {"olga", "POST", card + "/revoke", kReason, 403},
      {"olga", "POST", card + "/reinstate", kReason, 403},
      {"olga", "POST", "/api/v1/sites", Json{{"name", "lyon"}}, 403},
      {"olga", "POST", "/api/v1/boxes/box-2/revoke", kReason, 403},
      {"olga", "POST", "/api/v1/memberships/1/end", kReason, 403},
      {"olga", "GET", "/api/v1/audit", nullptr, 403},
      {"olga", "GET", "/api/v1/audit/verify", nullptr, 200},
      {"olga", "POST", card + "/suspend", kReason, 200},  // a lost card, at once
      {"root", "POST", card + "/reinstate", kReason, 200},
      {"root", "POST", "/api/v1/sites", Json{{"name", "lyon"}}, 201},
      {"root", "GET", "/api/v1/audit", nullptr, 200},
  };
  for (const auto& each : cases) {
    auto answer = call(each.who, each.method, each.target,
                       each.body.is_null() ? std::nullopt : std::optional<Json>(each.body));
    EXPECT_EQ(answer.status, each.status) << each.who << " " << each.method << " " << each.target << " " << answer.body.dump();
    if (each.status == 403) {
      EXPECT_EQ(answer.body["error"]["reason"], "forbidden");
    }
  }
  // Only the allowed changes happened.
  EXPECT_EQ(store_->card_by_serial(card_serial_)->state, CardState::active);
  EXPECT_EQ(store_->sites()->size(), 2u);
  EXPECT_EQ(audits("card.suspend").size(), 1u);
  EXPECT_EQ(audits("card.reinstate").size(), 1u);
  EXPECT_EQ(audits("card.revoke").size(), 0u);
  EXPECT_EQ(audits("card.suspend").front().event.actor, "staff:olga");
}

TEST_F(ApiTest, BadRequestsGetAClearErrorAndChangeNothing) {
  const auto sites_before = store_->sites()->size();
  struct Case {
    std::string body;
    std::string content_type;
    int status;
    const char* reason;
    const char* says;
  };
  const std::vector<Case> cases = {
      {R"({"name":"lyon","colour":"red"})", "application/json", 400, "invalid_request", "unknown field 'colour'"},
      {R"({"name":42})", "application/json", 400, "invalid_request", "'name' must be a string"},
      {R"({})", "application/json", 400, "invalid_request", "'name' is required"},
      {R"({"name":"../etc"})", "application/json", 400, "invalid_request", "letters, digits"},
      {R"({"name":")" + std::string(65, 'a') + R"("})", "application/json", 400, "invalid_request", "1 to 64"},
      {R"({"name":"ly)", "application/json", 400, "invalid_request", "not a JSON object"},
      {R"(["lyon"])", "application/json", 400, "invalid_request", "not a JSON object"},
      {"", "application/json", 400, "invalid_request", "JSON object body"},
      {R"({"name":"lyon"})", "text/plain", 415, "unsupported_media_type", "application/json"},
      {R"({"name":")" + std::string(70000, 'a') + R"("})", "application/json", 413, "too_large", "at most"},
  };
  for (const auto& each : cases) {
    auto answer = raw("root", http::verb::post, "/api/v1/sites", each.body, {{"Content-Type", each.content_type}});
    EXPECT_EQ(answer.status, each.status) << each.body.substr(0, 80) << " -> " << answer.body;
    auto error = Json::parse(answer.body, nullptr, false);
    ASSERT_FALSE(error.is_discarded()) << answer.body;
    EXPECT_EQ(error["error"]["reason"], each.reason) << answer.body;
    EXPECT_NE(error["error"]["message"].get<std::string>().find(each.says), std::string::npos) << answer.body;
  }
  // A change steered by another site's page (the browser would attach the staff certificate).
  auto forged = raw("root", http::verb::post, "/api/v1/sites", R"({"name":"lyon"})",
                    {{"Content-Type", "application/json"}, {"Origin", "https://evil.example"}});
  EXPECT_EQ(forged.status, 403);
  EXPECT_NE(forged.body.find("cross_origin"), std::string::npos);
  // Other bodies and paths.
  EXPECT_EQ(call("root", "POST", "/api/v1/memberships", Json{{"user", "alice"}, {"project", "census"}, {"from", "2026-13-01"}, {"until", "2026-12-01"}}).status, 400);
  EXPECT_EQ(call("root", "PUT", "/api/v1/desktops/census", Json{{"host", "h"}, {"port", 70000}}).status, 400);
  EXPECT_EQ(call("root", "POST", "/api/v1/cards", Json{{"user", "alice"}, {"public_point_hex", "04zz"}}).status, 400);
  EXPECT_EQ(call("root", "GET", "/api/v1/audit?limit=0").status, 400);
  EXPECT_EQ(call("root", "GET", "/api/v1/audit?colour=red").status, 400);
  EXPECT_EQ(call("root", "GET", "/api/v1/sites?x=1").status, 400);
  EXPECT_EQ(call("root", "GET", "/api/v1/nothing").status, 404);
  EXPECT_EQ(call("root", "DELETE", "/api/v1/sites").status, 405);
  EXPECT_EQ(call("root", "POST", "/api/v1/cards/nothex/suspend", kReason).status, 400);
  EXPECT_EQ(call("root", "POST", "/api/v1/cards/abcdef/suspend", kReason).status, 404);
  EXPECT_EQ(call("root", "POST", "/api/v1/sites", Json{{"name", "paris"}}).status, 409);
  EXPECT_EQ(store_->sites()->size(), sites_before);
  EXPECT_TRUE(audits("site.add").size() == 1u);  // the one from the set-up
}

TEST_F(ApiTest, EveryCallIsAuditedWithWhoWhatAndTheAnswer) {
  (void)call("audrey", "GET", "/api/v1/users");
  (void)call("audrey", "POST", "/api/v1/sessions/1/end", kReason);
  (void)call("mallory", "GET", "/api/v1/boxes");
  auto records = audits("api.request");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].event.actor, "staff:audrey");
  EXPECT_EQ(records[0].event.details["method"], "GET");
  EXPECT_EQ(records[0].event.details["target"], "/api/v1/users");
  EXPECT_EQ(records[0].event.details["status"], 200);
  EXPECT_EQ(records[0].event.outcome, "ok");
  EXPECT_EQ(records[1].event.details["status"], 403);
  EXPECT_EQ(records[1].event.details["reason"], "forbidden");
  EXPECT_EQ(records[1].event.outcome, "refused");
  EXPECT_EQ(records[2].event.actor.rfind("staff-certificate:", 0), 0u) << records[2].event.actor;
  EXPECT_EQ(records[2].event.details["reason"], "unknown_staff");
  EXPECT_TRUE(store_->verify_audit()->intact());
}

TEST_F(ApiTest, AnAdminProvisionsABoxAndACardThroughTheApi) {
  auto site = call("root", "POST", "/api/v1/sites", Json{{"name", "lyon"}});
  ASSERT_EQ(site.status, 201) << site.body.dump();
  auto box = call("root", "POST", "/api/v1/boxes", Json{{"name", "box-9"}, {"site", "lyon"}, {"validity_days", 30}});
  ASSERT_EQ(box.status, 201) << box.body.dump();
  EXPECT_EQ(box.body["box"]["site"], "lyon");
  // The bundle it answers opens a tunnel.
  const auto bundle = dir_ / "box-9";
  std::filesystem::create_directories(bundle);
  for (const auto& [field, file] : {std::pair{"client_crt", "client.crt"}, std::pair{"client_key", "client.key"},
                                    std::pair{"broker_ca_crt", "broker-ca.crt"}}) {
    std::ofstream(bundle / file) << box.body["bundle"][field].get<std::string>();
  }
  auto tunnel = TunnelClient::create({io_.get_executor(), {"127.0.0.1", tunnels_->local_endpoint().port(), "localhost"},
                                      firmware::BoxIdentity::from_bundle(bundle), 5000ms});
  ASSERT_TRUE(tunnel);
  auto hello = run((*tunnel)->connect());
  EXPECT_TRUE(hello) << hello.error().describe();
  (*tunnel)->close();
  io_.run_for(50ms);
  // The box's private key is in no audit record.
  for (const auto& record : audits("")) {
    EXPECT_EQ(record.event.details.dump().find("PRIVATE KEY"), std::string::npos) << record.event.action;
  }

  // A card: the key stays on the card; the broker certifies its public point.
  auto key = crypto::generate_ec_p256();
  auto point = crypto::ec_public_point(**key);
  auto card = call("root", "POST", "/api/v1/cards", Json{{"user", "alice"}, {"public_point_hex", to_hex(*point)}});
  ASSERT_EQ(card.status, 201) << card.body.dump();
  auto certificate = crypto::certificate_from_pem(card.body["certificate_pem"].get<std::string>());
  ASSERT_TRUE(certificate);
  auto users_ca = crypto::certificate_from_pem_file(pki_.ca_certificate(Pki::Authority::users));
  EXPECT_TRUE(crypto::verify_certificate(**certificate, **users_ca, nullptr, clock_.now()));
  EXPECT_EQ(crypto::certificate_common_name(**certificate), "Alice Example");
  auto stored = store_->card_by_serial(card.body["card"]["certificate_serial"]);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->user, "alice");
  EXPECT_EQ(audits("card.issue").back().event.actor, "staff:root");
}

TEST_F(ApiTest, OpsSeeTheLiveSessionAndEndItAndTheDesktopSessionIsLoggedOff) {
  auto& box = login("box-1");
  auto viewer = open_view(box);
  ASSERT_TRUE(viewer);
  ASSERT_TRUE(run_until([&] { return !desktop_.session_of("alice").is_null(); }));
  auto sessions = call("olga", "GET", "/api/v1/sessions");
  ASSERT_EQ(sessions.status, 200);
  ASSERT_EQ(sessions.body.size(), 1u) << sessions.body.dump();
  const auto& live = sessions.body[0];
  EXPECT_EQ(live["user"], "alice");
  EXPECT_EQ(live["box"], "box-1");
  EXPECT_EQ(live["site"], "paris");
  EXPECT_EQ(live["project"], "census");
  EXPECT_EQ(live["state"], "connected");
  EXPECT_FALSE(live["since"].get<std::string>().empty());
  auto boxes = call("audrey", "GET", "/api/v1/boxes");
  ASSERT_EQ(boxes.body.size(), 2u);
  EXPECT_EQ(boxes.body[0]["name"], "box-1");
  EXPECT_EQ(boxes.body[0]["online"], true);
  EXPECT_EQ(boxes.body[1]["online"], false);
  EXPECT_TRUE(boxes.body[1]["last_seen"].is_null());

  const auto id = live["id"].get<std::int64_t>();
  auto ended = call("olga", "POST", fmt::format("/api/v1/sessions/{}/end", id), Json{{"reason", "incident 42"}});
  ASSERT_EQ(ended.status, 200) << ended.body.dump();
  EXPECT_EQ(ended.body["was_connected"], true);
  EXPECT_EQ(ended.body["logged_off"], true);
  ASSERT_TRUE(run_until([&] { return box.ended.has_value(); }));
  ASSERT_TRUE(*box.ended);
  EXPECT_EQ((*box.ended)->reason, enforcement::kSessionEnded);
  EXPECT_NE((*box.ended)->message.find("operations team"), std::string::npos);
  EXPECT_EQ(store_->session(id)->state, SessionState::ended);
  EXPECT_EQ(store_->session(id)->end_reason, "incident 42");
  EXPECT_TRUE(call("olga", "GET", "/api/v1/sessions").body.empty());
  EXPECT_EQ(call("olga", "POST", fmt::format("/api/v1/sessions/{}/end", id), kReason).status, 409);
  EXPECT_EQ(audits("desktop.logoff").back().event.actor, "staff:olga");
  EXPECT_TRUE(run_until([&] { return desktop_.session_of("alice").value("state", "") == "ended"; }));
  EXPECT_EQ(audits("access.cut").size(), 0u);  // ended by the call itself, not found later
}

TEST_F(ApiTest, SuspendingACardClosesItsViewWithinOneSecondAndTheBoxIsToldWhy) {
  auto& box = login("box-1");
  const auto took = time_until_view_ends(box, [&] {
    auto answer = call("olga", "POST", "/api/v1/cards/" + card_serial_ + "/suspend", Json{{"reason", "lost at 10:02"}});
    EXPECT_EQ(answer.status, 200) << answer.body.dump();
  });
  std::cout << "revocation to disconnect (card suspended through the API): " << took.count() << " ms\n";
  RecordProperty("card_suspended_to_view_closed_ms", std::to_string(took.count()));
  EXPECT_LT(took, 1000ms);
  ASSERT_TRUE(*box.ended);
  EXPECT_FALSE((*box.ended)->by_box);
  EXPECT_EQ((*box.ended)->reason, enforcement::kCardSuspended);
  EXPECT_NE((*box.ended)->message.find("suspended"), std::string::npos);
  auto cut = audits("access.cut");
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].event.details["reason"], enforcement::kCardSuspended);
  // The desktop session itself goes on (a suspension may be lifted): it is disconnected.
  auto sessions = call("olga", "GET", "/api/v1/sessions");
  ASSERT_EQ(sessions.body.size(), 1u);
  EXPECT_EQ(sessions.body[0]["state"], "disconnected");
}

TEST_F(ApiTest, RevokingABoxClosesItsTunnelWithinOneSecond) {
  auto& box = login("box-1");
  const auto start = std::chrono::steady_clock::now();
  auto answer = call("root", "POST", "/api/v1/boxes/box-1/revoke", Json{{"reason", "stolen"}});
  ASSERT_EQ(answer.status, 200) << answer.body.dump();
  ASSERT_TRUE(run_until([&] { return box.ended.has_value(); }, 5s));
  // After its view, the box is told why and the tunnel closes.
  const Result<Frame> last = run(box.tunnel->receive());
  ASSERT_TRUE(run_until([&] { return tunnels_->open_tunnels() == 0; }, 5s));
  const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  std::cout << "revocation to disconnect (box revoked through the API): " << took.count() << " ms\n";
  RecordProperty("box_revoked_to_tunnel_closed_ms", std::to_string(took.count()));
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ((*box.ended)->reason, enforcement::kBoxRevoked);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->type, FrameType::refusal);
  EXPECT_EQ(last->body["reason"], enforcement::kBoxRevoked);
  EXPECT_EQ(audits("tunnel.close").back().event.details["reason"], enforcement::kBoxRevoked);
  // And the CRL now refuses its handshake.
  auto again = TunnelClient::create({io_.get_executor(), {"127.0.0.1", tunnels_->local_endpoint().port(), "localhost"},
                                     firmware::BoxIdentity::from_bundle(dir_ / "box-1"), 5000ms});
  ASSERT_TRUE(again);
  EXPECT_FALSE(run((*again)->connect()));
}

TEST_F(ApiTest, EndingAMembershipClosesTheMembersViewWithinOneSecond) {
  auto& box = login("box-1");
  const auto id = store_->memberships()->front().id;
  const auto took = time_until_view_ends(box, [&] {
    EXPECT_EQ(call("root", "POST", fmt::format("/api/v1/memberships/{}/end", id), Json{{"reason", "project over"}}).status, 200);
  });
  std::cout << "revocation to disconnect (membership ended through the API): " << took.count() << " ms\n";
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ((*box.ended)->reason, enforcement::kMembershipEnded);
}

TEST_F(ApiTest, AChangeMadeWithSdboxctlOnTheBrokerHostIsEnforcedWithinOneSecondToo) {
  auto& box = login("box-1");
  // sdboxctl opens the same file in another process; here, another connection to it.
  auto other = SqliteStore::create({dir_ / "broker.db", &clock_, false});
  ASSERT_TRUE(other);
  const auto took = time_until_view_ends(box, [&] {
    ASSERT_TRUE((*other)->set_card_state(card_serial_, CardState::revoked, "stolen", "local:root"));
  });
  std::cout << "revocation to disconnect (card revoked with sdboxctl): " << took.count() << " ms\n";
  RecordProperty("local_card_revoked_to_view_closed_ms", std::to_string(took.count()));
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ((*box.ended)->reason, enforcement::kCardRevoked);
}

TEST_F(ApiTest, MetricsAreInPrometheusTextFormat) {
  (void)login("box-1");
  auto page = raw("audrey", http::verb::get, "/metrics", "", {});
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
  for (const char* line : {"sdbox_tunnels_open 1", "sdbox_logins_total{outcome=\"success\"} 1",
                           "sdbox_login_duration_seconds_count 1", "sdbox_sessions{state=\"connected\"} 1",
                           "sdbox_gateway_processes 1", "# TYPE sdbox_login_duration_seconds histogram",
                           "# TYPE sdbox_blocked_channel_attempts_total counter"}) {
    EXPECT_NE(page.body.find(std::string("\n") + line + "\n"), std::string::npos) << line << "\n" << page.body;
  }
  std::smatch audit_records;
  ASSERT_TRUE(std::regex_search(page.body, audit_records, std::regex("\nsdbox_audit_records ([0-9]+)\n")));
  EXPECT_GT(std::stoll(audit_records[1]), 10);
  // Every sample line is NAME{LABELS} VALUE.
  std::istringstream lines(page.body);
  const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? [-+0-9.eInfa]+$)");
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
  }
}

TEST_F(ApiTest, RepeatedWrongPinsAndAnOfflineBoxRaiseAlerts) {
  auto& box = connect("box-1");
  for (int wrong = 0; wrong < 3; ++wrong) {
    const Frame event{FrameType::login_event, {{"event", "pin_wrong"}, {"tries_left", 4 - wrong}, {"card_serial", card_serial_}}};
    ASSERT_TRUE(run(box.tunnel->send(event)));
  }
  ASSERT_TRUE(run_until([&] { return audits("login.card_event").size() == 3; }));
  ops_->follower().poke();
  auto alerts = call("olga", "GET", "/api/v1/alerts");
  ASSERT_EQ(alerts.body.size(), 1u) << alerts.body.dump();
  EXPECT_EQ(alerts.body[0]["kind"], "pin_failures");
  EXPECT_EQ(alerts.body[0]["subject"], card_serial_);

  box.tunnel->close();
  ASSERT_TRUE(run_until([&] { return tunnels_->open_tunnels() == 0; }));
  ops_->alerts().check_boxes();
  EXPECT_EQ(call("olga", "GET", "/api/v1/alerts").body.size(), 1u);  // not yet: 2 minutes
  clock_.advance(3min);
  ops_->alerts().check_boxes();
  auto later = call("olga", "GET", "/api/v1/alerts");
  ASSERT_EQ(later.body.size(), 2u) << later.body.dump();
  EXPECT_EQ(later.body[1]["kind"], "box_offline");
  EXPECT_EQ(later.body[1]["subject"], "box-1");
}

TEST_F(ApiTest, TheDashboardIsServedFromTheBrokerWithAStrictContentPolicy) {
  auto page = raw("audrey", http::verb::get, "/", "", {});
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.headers["Content-Type"], "text/html; charset=utf-8");
  EXPECT_NE(page.headers["Content-Security-Policy"].find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(page.headers["X-Frame-Options"], "DENY");
  EXPECT_EQ(page.headers["Cache-Control"], "no-store");
  // Nothing from elsewhere: no absolute URL in the page, its script or its style.
  for (const char* asset : {"/", "/dashboard.js", "/dashboard.css"}) {
    auto file = raw("audrey", http::verb::get, asset, "", {});
    ASSERT_EQ(file.status, 200) << asset;
    EXPECT_FALSE(std::regex_search(file.body, std::regex(R"((src|href)\s*=\s*["']?(https?:)?//)"))) << asset;
    EXPECT_FALSE(std::regex_search(file.body, std::regex(R"(url\(\s*["']?(https?:)?//)"))) << asset;
  }
}

TEST_F(ApiTest, TheEventStreamSendsTheStateAndAgainWhenItChanges) {
  // Read the stream on its own thread until two states have come.
  const auto port = ops_->api().local_endpoint().port();
  auto tls = staff_tls("olga");
  auto reading = std::async(std::launch::async, [&]() -> std::vector<Json> {
    asio::io_context client_io;
    asio::ssl::stream<asio::ip::tcp::socket> stream(client_io, tls);
    stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    stream.handshake(asio::ssl::stream_base::client);
    http::request<http::empty_body> request{http::verb::get, "/api/v1/events", 11};
    request.set(http::field::host, "127.0.0.1");
    http::write(stream, request);
    std::string text;
    std::vector<Json> states;
    std::array<char, 4096> chunk{};
    boost::system::error_code error;
    // Until a state shows the session (the box's tunnel alone is an earlier change).
    while (!error && (states.size() < 2 || states.back()["sessions"].empty())) {
      const auto read = stream.read_some(asio::buffer(chunk), error);
      text.append(chunk.data(), read);
      for (auto at = text.find("event: state\ndata: "); at != std::string::npos; at = text.find("event: state\ndata: ")) {
        const auto end = text.find("\n\n", at);
        if (end == std::string::npos) break;
        states.push_back(Json::parse(text.substr(at + 19, end - at - 19)));
        text.erase(0, end + 2);
      }
    }
    return states;
  });
  ASSERT_TRUE(run_until([&] { return audits("api.request").size() == 1; }));
  (void)login("box-1");
  ASSERT_TRUE(run_until([&] { return reading.wait_for(0ms) == std::future_status::ready; }, 15s));
  auto states = reading.get();
  ASSERT_GE(states.size(), 2u);
  EXPECT_TRUE(states.front()["sessions"].empty());
  EXPECT_EQ(states.front()["boxes"].size(), 2u);
  ASSERT_EQ(states.back()["sessions"].size(), 1u) << states.back().dump();
  EXPECT_EQ(states.back()["sessions"][0]["user"], "alice");
  EXPECT_EQ(states.back()["sessions"][0]["state"], "connected");
}

/// The same broker with one-second limits on the TLS handshake and on the wait for a request.
class ApiTimeoutTest : public ApiTest {
 protected:
  ApiTimeoutTest() {
    api_handshake_timeout_ = 1s;
    api_idle_timeout_ = 1s;
  }

  enum class Client { silent_tcp, silent_tls, dripping_request };

  /// How long after connecting (TCP for `silent_tcp`, TLS otherwise) the broker closes on a
  /// client that behaves as `client` does; nothing when it still had not after 8 s.
  std::optional<std::chrono::milliseconds> time_until_closed(Client client) {
    const auto port = ops_->api().local_endpoint().port();
    auto tls = staff_tls("root");
    auto watching = std::async(std::launch::async, [&]() -> std::optional<std::chrono::milliseconds> {
      asio::io_context client_io;
      asio::ssl::stream<asio::ip::tcp::socket> stream(client_io, tls);
      stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
      if (client != Client::silent_tcp) stream.handshake(asio::ssl::stream_base::client);
      const auto connected = std::chrono::steady_clock::now();
      std::optional<std::chrono::milliseconds> closed;
      std::array<char, 256> chunk{};
      auto on_read = [&](const boost::system::error_code& error, std::size_t /*read*/) {
        if (error) closed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - connected);
      };
      if (client == Client::silent_tcp) {
        stream.next_layer().async_read_some(asio::buffer(chunk), on_read);
      } else {
        stream.async_read_some(asio::buffer(chunk), on_read);
      }
      // A request that never ends, one byte every 200 ms: the limit is on the whole request,
      // not on each byte.
      const std::string request = "GET /api/v1/sites HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
      std::size_t sent = 0;
      asio::steady_timer drip(client_io);
      std::function<void()> send_next = [&] {
        if (closed || sent == request.size()) return;
        asio::async_write(stream, asio::buffer(request.data() + sent, 1), [&](const boost::system::error_code& error, std::size_t) {
          if (error) return;
          ++sent;
          drip.expires_after(200ms);
          drip.async_wait([&](const boost::system::error_code& waited) {
            if (!waited) send_next();
          });
        });
      };
      if (client == Client::dripping_request) send_next();
      client_io.run_for(8s);
      return closed;
    });
    EXPECT_TRUE(run_until([&] { return watching.wait_for(0ms) == std::future_status::ready; }, 15s));
    return watching.get();
  }
};

TEST_F(ApiTimeoutTest, SilentOrDawdlingConnectionsAreClosedAtTheirLimitAndTheApiStillAnswers) {
  for (const auto client : {Client::silent_tcp, Client::silent_tls, Client::dripping_request}) {
    const auto closed = time_until_closed(client);
    ASSERT_TRUE(closed.has_value()) << "client kind " << static_cast<int>(client) << " was still connected after 8 s";
    // Not before the limit (1 s), and not long after it either.
    EXPECT_GE(closed->count(), 900) << static_cast<int>(client);
    EXPECT_LE(closed->count(), 3000) << static_cast<int>(client);
  }
  EXPECT_EQ(raw("audrey", http::verb::get, "/metrics", "", {}).status, 200);
}

}  // namespace
}  // namespace sdbox::broker::api_testing
