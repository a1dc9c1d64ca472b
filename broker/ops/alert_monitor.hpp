#pragma once

#include "store/store.hpp"
#include "tunnel/live_connections.hpp"

#include "sdbox/common/clock.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sdbox::broker {

/// Something ops should look at.
struct Alert {
  std::int64_t id = 0;
  std::string kind;     ///< pin_failures, finger_failures, blocked_channel, box_offline, audit_chain_broken
  TimePoint at;
  std::string subject;  ///< the card serial, box or session concerned
  std::string message;
};

/// Turns the audit trail and the live connections into alerts: repeated wrong PINs or fingers on
/// one card, blocked-channel attempts, boxes gone offline, a broken audit chain. Events alerts
/// stay listed for `keep`; conditions (offline, broken chain) while they hold.
class AlertMonitor {
 public:
  struct Config {
    Store* store = nullptr;
    LiveConnections* live = nullptr;
    const Clock* clock = nullptr;
    int failures_threshold = 3;
    std::chrono::minutes failures_window{10};
    std::chrono::seconds offline_after{120};
    std::chrono::hours keep{24};
    std::size_t most = 500;
  };
  explicit AlertMonitor(Config config);

  /// An AuditFollower listener.
  void on_records(const std::vector<AuditRecord>& records);
  /// Re-checks which boxes are offline; run every few seconds.
  void check_boxes();
  /// Verifies the whole audit chain (it grows: run it every minute or so, not at every change).
  void check_audit_chain();
  /// The alerts now, newest first.
  [[nodiscard]] std::vector<Alert> alerts() const;

 private:
  void raise(const std::string& kind, TimePoint at, const std::string& subject, const std::string& message);
  void forget_old();
  std::int64_t condition_id(const std::string& key);

  Config config_;
  std::int64_t next_id_ = 1;
  std::deque<Alert> events_;
  /// Wrong tries per card (serial) and kind, within the window.
  std::map<std::pair<std::string, std::string>, std::deque<TimePoint>> failures_;
  std::vector<Alert> offline_;
  std::optional<Alert> chain_broken_;
  std::map<std::string, std::int64_t> condition_ids_;
};

}  // namespace sdbox::broker
