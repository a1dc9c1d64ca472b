#pragma once

#include "store/store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace sdbox::broker {

/// Follows the audit trail as it grows: every change to the broker's records is written with
/// its audit record (by this broker, by the admin API, or by `sdboxctl` on the broker host), so
/// the trail is the one feed of "something changed" that revocation, alerts, metrics and the
/// dashboard all listen to. It polls the trail's head (one cheap query) and can be poked to look
/// at once after a change made in this process.
class AuditFollower : public std::enable_shared_from_this<AuditFollower> {
 public:
  using Listener = std::function<void(const std::vector<AuditRecord>& records)>;
  struct Config {
    boost::asio::any_io_executor executor;
    Store* store = nullptr;
    std::chrono::milliseconds poll_interval{200};
  };

  static std::shared_ptr<AuditFollower> create(Config config);

  /// Listeners see each new record once, in order. Add them before start().
  void listen(Listener listener);
  /// Starts from the current head: records written before are history, not news.
  void start();
  void stop();
  /// Reads what is new now (and tells the listeners) instead of at the next poll.
  void poke();
  [[nodiscard]] std::int64_t head() const { return head_; }

 private:
  explicit AuditFollower(Config config);
  void schedule();
  void read_new();

  Config config_;
  boost::asio::steady_timer timer_;
  std::vector<Listener> listeners_;
  std::int64_t head_ = 0;
  bool stopped_ = false;
};

}  // namespace sdbox::broker
