#pragma once

#include "sdbox/common/clock.hpp"

#include <atomic>

namespace sdbox::testing {

/// A clock the test sets; starts at 2026-11-23 09:00:00 UTC.
class FakeClock final : public Clock {
 public:
  FakeClock() : now_(TimePoint(std::chrono::seconds(1795424400))) {}
  [[nodiscard]] TimePoint now() const override { return now_.load(); }
  void set(TimePoint time) { now_ = time; }
  void advance(std::chrono::seconds by) { now_ = now_.load() + by; }

 private:
  std::atomic<TimePoint> now_;
};

}  // namespace sdbox::testing
