#include "store/store.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <utility>

namespace sdbox::broker {

Error store_error(StoreFailure failure, std::string message) {
  return make_error(ErrorCategory::broker, std::move(message), static_cast<std::int64_t>(failure));
}

bool is_store_failure(const Error& error, StoreFailure failure) {
  return error.category == ErrorCategory::broker && error.code == static_cast<std::int64_t>(failure);
}

std::string_view to_string(BoxState state) { return state == BoxState::active ? "active" : "revoked"; }

std::string_view to_string(CardState state) {
  switch (state) {
    case CardState::active: return "active";
    case CardState::suspended: return "suspended";
    case CardState::revoked: return "revoked";
  }
  return "revoked";
}

std::string_view to_string(UserState state) { return state == UserState::active ? "active" : "disabled"; }
std::string_view to_string(SessionState state) { return state == SessionState::active ? "active" : "ended"; }
std::string_view to_string(StaffState state) { return state == StaffState::active ? "active" : "revoked"; }

std::string_view to_string(StaffRole role) {
  switch (role) {
    case StaffRole::admin: return "admin";
    case StaffRole::ops: return "ops";
    case StaffRole::auditor: return "auditor";
  }
  return "auditor";
}

std::optional<StaffRole> staff_role_from(std::string_view text) {
  for (auto role : {StaffRole::admin, StaffRole::ops, StaffRole::auditor}) {
    if (to_string(role) == text) return role;
  }
  return std::nullopt;
}

Result<Day> parse_day(std::string_view text) {
  auto refuse = [&] {
    return make_error(ErrorCategory::usage, fmt::format("'{}' is not a date as YYYY-MM-DD", text));
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return refuse();
  int year = 0;
  unsigned month = 0, day = 0;
  auto number = [&](std::size_t at, std::size_t length, auto& out) {
    const char* first = text.data() + at;
    const auto parsed = std::from_chars(first, first + length, out);
    return parsed.ec == std::errc() && parsed.ptr == first + length;
  };
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day)) return refuse();
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
  if (!date.ok()) return refuse();
  return Day(date);
}

Result<std::string> normalise_serial(std::string_view text) {
  std::string serial;
  for (const char c : text) {
    if (c == ':' || c == ' ') continue;
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      return make_error(ErrorCategory::usage, fmt::format("'{}' is not a certificate serial in hex", text));
    }
    serial += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (serial.empty()) return make_error(ErrorCategory::usage, "the certificate serial is empty");
  return serial;
}

std::string format_day(Day day) {
  const std::chrono::year_month_day date(day);
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                     static_cast<unsigned>(date.day()));
}

std::string format_time(TimePoint time) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  const auto day = std::chrono::floor<std::chrono::days>(seconds);
  const std::chrono::hh_mm_ss clock(seconds - day);
  return fmt::format("{}T{:02}:{:02}:{:02}Z", format_day(day), clock.hours().count(), clock.minutes().count(),
                     clock.seconds().count());
}

}  // namespace sdbox::broker
