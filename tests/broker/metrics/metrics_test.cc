#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

namespace sdbox::broker::metrics {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

/// A strict reader of text format 0.0.4 (promtool is not installed here): every line is HELP,
/// TYPE or a sample of the family last typed, HELP and TYPE come once per family before its
/// samples, and no series appears twice.
void expect_well_formed(const std::string& text) {
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) ([^\n\\]|\\\\|\\n)*)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")*\})? (-?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?|\+Inf|-Inf|NaN))");
  std::set<std::string> families;
  std::set<std::string> series;
  std::string family;
  std::string family_type;
  std::string helped;
  for (const auto& line : lines_of(text)) {
    std::smatch match;
    if (std::regex_match(line, match, help)) {
      helped = match[1];
      EXPECT_TRUE(families.insert(helped).second) << "HELP twice: " << line;
    } else if (std::regex_match(line, match, type)) {
      family = match[1];
      family_type = match[2];
      EXPECT_EQ(family, helped) << "TYPE without its HELP just before: " << line;
    } else if (std::regex_match(line, match, sample)) {
      const std::string name = match[1];
      if (family_type == "histogram") {
        EXPECT_TRUE(name == family + "_bucket" || name == family + "_sum" || name == family + "_count") << line;
      } else {
        EXPECT_EQ(name, family) << line;
      }
      const std::string key = line.substr(0, line.rfind(' '));
      EXPECT_TRUE(series.insert(key).second) << "series twice: " << line;
    } else {
      ADD_FAILURE() << "not text format 0.0.4: '" << line << "'";
    }
  }
}

TEST(MetricsRegistryTest, RendersFamiliesInRegistrationOrderAndLabelSetsSorted) {
  Registry registry;
  auto& temperature = registry.gauge("zz_room_temperature_celsius", "Temperature now.");
  auto& requests = registry.counter("http_requests_total", "Requests served.", {"method", "code"});
  registry.counter("never_used_total", "A labelled family nothing was counted in.", {"kind"});
  requests.at({"post", "200"}).increment(3);
  requests.at({"get", "404"}).increment();
  requests.at({"get", "200"}).increment();
  requests.at({"get", "200"}).increment();
  temperature.at().set(21.5);

  EXPECT_EQ(registry.render(),
            "# HELP zz_room_temperature_celsius Temperature now.\n"
            "# TYPE zz_room_temperature_celsius gauge\n"
            "zz_room_temperature_celsius 21.5\n"
            "# HELP http_requests_total Requests served.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{method=\"get\",code=\"200\"} 2\n"
            "http_requests_total{method=\"get\",code=\"404\"} 1\n"
            "http_requests_total{method=\"post\",code=\"200\"} 3\n"
            "# HELP never_used_total A labelled family nothing was counted in.\n"
            "# TYPE never_used_total counter\n");
  EXPECT_EQ(requests.at({"get", "200"}).value(), 2.0);
}

TEST(MetricsRegistryTest, UnlabelledFamiliesShowZeroBeforeFirstUse) {
  Registry registry;
  registry.counter("events_total", "Events.");
  registry.gauge("level", "Level.");
  EXPECT_EQ(registry.render(),
            "# HELP events_total Events.\n# TYPE events_total counter\nevents_total 0\n"
            "# HELP level Level.\n# TYPE level gauge\nlevel 0\n");
}

TEST(MetricsRegistryTest, EscapesHelpAndLabelValues) {
  Registry registry;
  auto& family = registry.counter("escapes_total", "A \\ backslash,\na newline and \"quotes\".", {"value"});
  family.at({"C:\\dir \"quoted\"\nline two"}).increment();

  EXPECT_EQ(registry.render(),
            "# HELP escapes_total A \\\\ backslash,\\na newline and \"quotes\".\n"
            "# TYPE escapes_total counter\n"
            "escapes_total{value=\"C:\\\\dir \\\"quoted\\\"\\nline two\"} 1\n");
  expect_well_formed(registry.render());
}

TEST(MetricsRegistryTest, RepairsInvalidUtf8InLabelValuesInsteadOfBreakingTheScrape) {
  Registry registry;
  auto& family = registry.counter("channels_total", "Channels.", {"channel"});
  family.at({"caf\xC3\xA9"}).increment();   // valid: kept as is
  family.at({"bad\xFF"}).increment();       // invalid byte
  family.at({"bad\xEF\xBF\xBD"}).increment();  // what the repair yields: the same series
  family.at({"\xED\xA0\x80"}).increment();  // an encoded surrogate is not UTF-8 either

  EXPECT_EQ(registry.render(),
            "# HELP channels_total Channels.\n"
            "# TYPE channels_total counter\n"
            "channels_total{channel=\"bad\xEF\xBF\xBD\"} 2\n"
            "channels_total{channel=\"caf\xC3\xA9\"} 1\n"
            "channels_total{channel=\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"} 1\n");
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry registry;
  auto& plain = registry.histogram("wait_seconds", "Waits.", {0.25, 0.5, 1});
  auto& labelled = registry.histogram("step_seconds", "Steps.", {1}, {"step"});
  for (const double seconds : {0.125, 0.25, 0.375, 2.0}) {  // 0.25 is in le="0.25": bounds are inclusive
    plain.at().observe(seconds);
  }
  labelled.at({"b"}).observe(3);
  labelled.at({"a"}).observe(0.5);

  EXPECT_EQ(registry.render(),
            "# HELP wait_seconds Waits.\n"
            "# TYPE wait_seconds histogram\n"
            "wait_seconds_bucket{le=\"0.25\"} 2\n"
            "wait_seconds_bucket{le=\"0.5\"} 3\n"
            "wait_seconds_bucket{le=\"1\"} 3\n"
            "wait_seconds_bucket{le=\"+Inf\"} 4\n"
            "wait_seconds_sum 2.75\n"
            "wait_seconds_count 4\n"
            "# HELP step_seconds Steps.\n"
            "# TYPE step_seconds histogram\n"
            "step_seconds_bucket{step=\"a\",le=\"1\"} 1\n"
            "step_seconds_bucket{step=\"a\",le=\"+Inf\"} 1\n"
            "step_seconds_sum{step=\"a\"} 0.5\n"
            "step_seconds_count{step=\"a\"} 1\n"
            "step_seconds_bucket{step=\"b\",le=\"1\"} 0\n"
            "step_seconds_bucket{step=\"b\",le=\"+Inf\"} 1\n"
            "step_seconds_sum{step=\"b\"} 3\n"
            "step_seconds_count{step=\"b\"} 1\n");
  expect_well_formed(registry.render());
}

TEST(MetricsRegistryTest, CallbackGaugesAreReadAtRenderTime) {
  Registry registry;
  int open = 2;
  int reads = 0;
  registry.callback_gauge("open_things", "Open now.", [&] {
    ++reads;
    return static_cast<double>(open);
  });
  auto& late = registry.callback_gauge("late_bound", "Bound later.");
  EXPECT_EQ(reads, 0);

  EXPECT_EQ(registry.render(),
            "# HELP open_things Open now.\n# TYPE open_things gauge\nopen_things 2\n"
            "# HELP late_bound Bound later.\n# TYPE late_bound gauge\n");
  open = 7;
  late.set_source([] { return 0.5; });
  EXPECT_EQ(registry.render(),
            "# HELP open_things Open now.\n# TYPE open_things gauge\nopen_things 7\n"
            "# HELP late_bound Bound later.\n# TYPE late_bound gauge\nlate_bound 0.5\n");
  EXPECT_EQ(reads, 2);
}

TEST(MetricsRegistryTest, FormatsValuesAsTheTextFormatSpellsThem) {
  EXPECT_EQ(format_value(12), "12");
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(0.1 + 0.2), "0.30000000000000004");  // round-trips, nothing lost
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(std::stod(format_value(1e21)), 1e21);

  Registry registry;
  registry.gauge("ratio", "Ratio.").at().set(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(registry.render(), "# HELP ratio Ratio.\n# TYPE ratio gauge\nratio NaN\n");
}

TEST(MetricsRegistryTest, BadNamesAndLabelCountsAreBugs) {
  Registry registry;
  for (const char* name : {"", "1st", "has-dash", "has space", "caf\xC3\xA9"}) {
    EXPECT_THROW(registry.counter(name, "x"), std::invalid_argument) << name;
  }
  for (const char* label : {"", "__reserved", "has:colon", "9lives", "a.b"}) {
    EXPECT_THROW(registry.counter("ok_total", "x", {label}), std::invalid_argument) << label;
  }
  EXPECT_THROW(registry.counter("ok_total", "x", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h_seconds", "x", {1}, {"le"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h_seconds", "x", {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h_seconds", "x", {2, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h_seconds", "x", {1, std::numeric_limits<double>::infinity()}),
               std::invalid_argument);

  // None of the refused registrations took a name or left a family behind.
  auto& ok = registry.counter("ok_total", "x", {"a", "b"});
  EXPECT_EQ(registry.render(), "# HELP ok_total x\n# TYPE ok_total counter\n");
  EXPECT_THROW(registry.gauge("ok_total", "again"), std::invalid_argument);
  EXPECT_THROW(ok.at({"only one"}), std::invalid_argument);
  EXPECT_THROW(ok.at({"one", "two", "three"}), std::invalid_argument);
  EXPECT_THROW(ok.at(), std::invalid_argument);
  EXPECT_THROW(ok.at({"x", "y"}).increment(-1), std::invalid_argument);
  EXPECT_EQ(ok.at({"x", "y"}).value(), 0.0);

  // A histogram's sample names collide with other families both ways.
  registry.histogram("wait_seconds", "x", {1});
  EXPECT_THROW(registry.counter("wait_seconds_count", "x"), std::invalid_argument);
  registry.gauge("lag_sum", "x");
  EXPECT_THROW(registry.histogram("lag", "x", {1}), std::invalid_argument);
  EXPECT_NO_THROW(registry.counter("name:with_colon_total", "colons are allowed in metric names"));
}

TEST(BrokerMetricsTest, RegistersEveryFamilyWithHelpAndType) {
  Registry registry;
  BrokerMetrics broker(registry);
  broker.read_tunnels_open_from([] { return 3.0; });
  broker.read_gateway_processes_from([] { return 2.0; });
  const std::string text = registry.render();
  expect_well_formed(text);

  const std::vector<std::pair<std::string, std::string>> families{
      {"sdbox_tunnels_open", "gauge"},
      {"sdbox_logins_total", "counter"},
      {"sdbox_login_duration_seconds", "histogram"},
      {"sdbox_sessions", "gauge"},
      {"sdbox_blocked_channel_attempts_total", "counter"},
      {"sdbox_gateway_processes", "gauge"},
      {"sdbox_audit_records", "gauge"},
      {"sdbox_api_requests_total", "counter"},
      {"sdbox_revocations_enforced_total", "counter"},
      {"sdbox_revocation_enforcement_seconds", "histogram"},
  };
  std::vector<std::string> typed;
  for (const auto& line : lines_of(text)) {
    if (line.starts_with("# TYPE ")) {
      typed.push_back(line.substr(7));
    }
  }
  std::vector<std::string> expected;
  for (const auto& [name, type] : families) {
    expected.push_back(name);
    expected.back().append(" ").append(type);
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
  }
  EXPECT_EQ(typed, expected);

  for (const char* line :
       {"sdbox_tunnels_open 3\n", "sdbox_gateway_processes 2\n", "sdbox_logins_total{outcome=\"success\"} 0\n",
        "sdbox_sessions{state=\"connected\"} 0\n", "sdbox_sessions{state=\"disconnected\"} 0\n",
        "sdbox_audit_records 0\n", "sdbox_login_duration_seconds_count 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  std::string login_buckets;
  for (const auto* le : {"0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf"}) {
    login_buckets += std::string("sdbox_login_duration_seconds_bucket{le=\"") + le + "\"} 0\n";
  }
  EXPECT_NE(text.find(login_buckets), std::string::npos);
  std::string revocation_buckets;
  for (const auto* le : {"0.01", "0.05", "0.1", "0.25", "0.5", "1", "2", "+Inf"}) {
    revocation_buckets += std::string("sdbox_revocation_enforcement_seconds_bucket{le=\"") + le + "\"} 0\n";
  }
  EXPECT_NE(text.find(revocation_buckets), std::string::npos);
}

TEST(BrokerMetricsTest, EventsLandInTheirSeries) {
  Registry registry;
  BrokerMetrics broker(registry);
  broker.login_succeeded(750ms);
  broker.login_succeeded(40ms);
  broker.login_refused("card_suspended");
  broker.sessions(4, 1);
  broker.blocked_channel_attempt("cliprdr");
  broker.blocked_channel_attempt("cliprdr");
  broker.audit_records(1234);
  broker.api_request(200);
  broker.api_request(403);
  broker.api_request(200);
  broker.revocation_enforced("box_revoked", 0.03s);
  const std::string text = registry.render();
  expect_well_formed(text);

  for (const char* line : {
           "sdbox_logins_total{outcome=\"card_suspended\"} 1\nsdbox_logins_total{outcome=\"success\"} 2\n",
           "sdbox_login_duration_seconds_bucket{le=\"0.05\"} 1\n",
           "sdbox_login_duration_seconds_bucket{le=\"0.5\"} 1\nsdbox_login_duration_seconds_bucket{le=\"1\"} 2\n",
           "sdbox_login_duration_seconds_bucket{le=\"+Inf\"} 2\nsdbox_login_duration_seconds_sum 0.79\n",
           "sdbox_login_duration_seconds_sum 0.79\nsdbox_login_duration_seconds_count 2\n",
           "sdbox_sessions{state=\"connected\"} 4\nsdbox_sessions{state=\"disconnected\"} 1\n",
           "sdbox_blocked_channel_attempts_total{channel=\"cliprdr\"} 2\n",
           "sdbox_audit_records 1234\n",
           "sdbox_api_requests_total{status=\"200\"} 2\nsdbox_api_requests_total{status=\"403\"} 1\n",
           "sdbox_revocations_enforced_total{kind=\"box_revoked\"} 1\n",
           "sdbox_revocation_enforcement_seconds_bucket{le=\"0.01\"} 0\n",
           "sdbox_revocation_enforcement_seconds_bucket{le=\"0.05\"} 1\n",
           "sdbox_revocation_enforcement_seconds_count 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
  // Unbound sources render no sample rather than a made-up zero.
  EXPECT_EQ(text.find("\nsdbox_tunnels_open "), std::string::npos);
  EXPECT_EQ(text.find("\nsdbox_gateway_processes "), std::string::npos);
}

TEST(BrokerMetricsTest, TwoRegistriesAreIndependent) {
  Registry first;
  Registry second;
  BrokerMetrics a(first);
  BrokerMetrics b(second);
  a.api_request(500);
  EXPECT_NE(first.render().find("sdbox_api_requests_total{status=\"500\"} 1\n"), std::string::npos);
  EXPECT_EQ(second.render().find("sdbox_api_requests_total{status="), std::string::npos);
  EXPECT_THROW(BrokerMetrics again(first), std::invalid_argument);
}

}  // namespace
}  // namespace sdbox::broker::metrics
