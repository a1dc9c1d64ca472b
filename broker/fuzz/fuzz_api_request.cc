// libFuzzer target: any bytes as an admin API request (a role byte, the method and target on
// their own lines, then the body), answered by the real routes over a real store and PKI. Every
// answer must be well-formed (a known status; JSON where it says JSON), and a refused request must
// change nothing: the audit trail, which every change is written with, stays where it was.
#include "api/api_routes.hpp"
#include "store/sqlite_store.hpp"

#include "sdbox/common/clock.hpp"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string_view>

#include <unistd.h>

namespace {

using namespace sdbox;
using namespace sdbox::broker;

/// Nothing connected: the routes only list and end what is there.
class NoConnections final : public LiveConnections {
 public:
  [[nodiscard]] std::vector<LiveTunnel> tunnels() const override { return {}; }
  [[nodiscard]] std::vector<LiveView> views() const override { return {}; }
  bool end_view(std::int64_t, const Ending&) override { return false; }
  std::size_t close_box(const std::string&, const Ending&) override { return 0; }
};

/// Logoff is refused: the fuzzer must not reach out of the process.
class NoDesktops final : public DesktopProvider {
 public:
  Status logoff(const Desktop&, const std::string&) override {
    return make_error(ErrorCategory::usage, "no desktop in the fuzzer");
  }
};

struct World {
  std::filesystem::path directory;
  SystemClock clock;
  std::unique_ptr<SqliteStore> store;
  NoConnections live;
  NoDesktops desktops;
  std::unique_ptr<AlertMonitor> alerts;
  std::unique_ptr<ApiRoutes> routes;

  World() {
    directory = std::filesystem::temp_directory_path() / ("sdbox-fuzz-api-" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory);
    std::filesystem::create_directories(directory);
    if (!Pki(directory / "pki").init({})) std::abort();
    auto opened = SqliteStore::create({directory / "broker.db", &clock});
    if (!opened) std::abort();
    store = std::move(*opened);
    // Something to find, change and refuse.
    (void)store->add_site("paris", "fuzz");
    (void)store->add_user({0, "alice", "Alice", UserState::active, {}}, "fuzz");
    (void)store->add_project({0, "census", "Census"}, "fuzz");
    (void)store->add_card({0, "alice", "c0ffee", "00", CardState::active, "", clock.now()}, "fuzz");
    alerts = std::make_unique<AlertMonitor>(AlertMonitor::Config{store.get(), &live, &clock});
    ApiRoutes::Config config;
    config.store = store.get();
    config.live = &live;
    config.desktops = &desktops;
    config.alerts = alerts.get();
    config.clock = &clock;
    config.pki_directory = directory / "pki";
    config.metrics = [] { return std::string("# metrics\n"); };
    config.changed = [] {};
    routes = std::make_unique<ApiRoutes>(config);
  }
  ~World() {
    routes.reset();
    alerts.reset();
    store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;
};

std::string_view next_line(std::string_view& rest) {
  const auto end = rest.find('\n');
  const auto line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  if (size == 0) return 0;
  static const StaffRole roles[] = {StaffRole::admin, StaffRole::ops, StaffRole::auditor};
  const StaffMember staff{1, "fuzzer", roles[data[0] % 3], "01", "00", StaffState::active, {}};
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  ApiRequest request;
  request.method = std::string(next_line(rest));
  request.target = std::string(next_line(rest));
  request.content_type = "application/json";
  request.host = "127.0.0.1:8443";
  request.body = std::string(rest);

  const auto head_before = world.store->audit_head().value();
  const auto answer = world.routes->handle(staff, request);
  static const std::set<int> statuses = {200, 201, 204, 400, 403, 404, 405, 409, 413, 415, 500};
  if (statuses.count(answer.status) == 0) std::abort();
  if (answer.content_type == "application/json") {
    auto body = nlohmann::json::parse(answer.body, nullptr, false);
    if (body.is_discarded()) std::abort();
    if (answer.status >= 400 && (!body.contains("error") || !body["error"].contains("reason"))) std::abort();
  }
  if (answer.status >= 400 && answer.status != 500 && world.store->audit_head().value() != head_before) std::abort();
  return 0;
}
