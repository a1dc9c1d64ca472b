#pragma once

#include <chrono>

namespace sdbox {

/// Wall-clock time as the system sees it. Rules that depend on the date (membership windows,
/// enrolment age, certificate validity) read it through this role so tests can move time.
class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  [[nodiscard]] virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace sdbox
