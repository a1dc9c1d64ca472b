#pragma once

#include "store/store.hpp"
#include "tunnel/live_connections.hpp"

#include "sdbox/common/clock.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace sdbox::broker {

/// Makes a change in the store take effect on what is connected now: a suspended or revoked
/// card, a disabled user, an ended membership or an ended session ends the views concerned; a
/// revoked box loses its tunnel. It checks every live connection against the store whenever the
/// audit trail shows such a change, whoever made it (the API, or sdboxctl on the broker host).
class AccessEnforcer {
 public:
  struct Config {
    Store* store = nullptr;
    LiveConnections* live = nullptr;
    const Clock* clock = nullptr;
    /// Told each connection cut: the reason and how long after the change's audit record.
    std::function<void(const std::string& reason, std::chrono::duration<double> after_change)> enforced{};
  };
  explicit AccessEnforcer(Config config);

  /// An AuditFollower listener: sweeps when a record may withdraw access.
  void on_records(const std::vector<AuditRecord>& records);
  /// Checks every live tunnel and view against the store now; how many were cut.
  std::size_t sweep(TimePoint changed_at);

 private:
  std::optional<Ending> view_withdrawn(const LiveView& view);
  void cut(const std::string& what, const Ending& why, const nlohmann::json& subject, TimePoint changed_at);

  Config config_;
};

/// True for the audit actions after which live access must be checked again.
bool withdraws_access(std::string_view action);

}  // namespace sdbox::broker
