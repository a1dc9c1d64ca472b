#pragma once

#include <spdlog/spdlog.h>

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace sdbox::log {

/// Configures spdlog for a process: stderr, ISO timestamps, level from `level` or, when empty,
/// from the SDBOX_LOG_LEVEL environment variable (default "info").
void init(std::string_view process_name, std::string_view level = {});

/// The named logger of a component ("card", "pcsc", "softcard"...), created on first use.
std::shared_ptr<spdlog::logger> component(const std::string& name);

/// A completion handler for `co_spawn`: exceptions are bugs, and a coroutine that throws one ends;
/// this says so on the component's logger instead of nothing.
inline auto coroutine_failure(std::string component_name, std::string what) {
  return [component_name = std::move(component_name), what = std::move(what)](const std::exception_ptr& failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      component(component_name)->error("{} coroutine failed: {}", what, error.what());
    }
  };
}

/// key=value pairs rendered in a stable order, values quoted when they contain spaces or quotes.
/// Never put a PIN, an APDU of a VERIFY, biometric data or key material in here.
class Fields {
 public:
  Fields() = default;

  template <class Value>
  Fields& add(std::string_view key, const Value& value) {
    append(key, fmt::format("{}", value));
    return *this;
  }

  [[nodiscard]] const std::string& str() const { return text_; }

 private:
  void append(std::string_view key, std::string_view value);
  std::string text_;
};

}  // namespace sdbox::log

template <>
struct fmt::formatter<sdbox::log::Fields> : fmt::formatter<std::string_view> {
  auto format(const sdbox::log::Fields& fields, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(fields.str(), ctx);
  }
};
