#include "config/box_config.hpp"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace sdbox::firmware {

namespace {

constexpr std::size_t kMaxFileSize = std::size_t{64} * 1024;

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

template <class Number>
bool parse_number(std::string_view text, Number& out) {
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), out);
  return parsed.ec == std::errc() && parsed.ptr == text.data() + text.size();
}

}  // namespace

Result<BoxConfig> parse_box_config(std::string_view text, const std::filesystem::path& base) {
  if (text.size() > kMaxFileSize) return make_error(ErrorCategory::config, "the configuration file is over 64 KiB");
  BoxConfig config;
  std::set<std::string, std::less<>> seen;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (const auto comment = line.find('#'); comment != std::string_view::npos) line = line.substr(0, comment);
    line = trim(line);
    if (line.empty()) continue;
    auto refuse = [&](const std::string& why) {
      return make_error(ErrorCategory::config, fmt::format("line {}: {}", line_number, why));
    };
    const auto equals = line.find('=');
    if (equals == std::string_view::npos) return refuse("expected 'key = value'");
    const std::string_view key = trim(line.substr(0, equals));
    const std::string_view value = trim(line.substr(equals + 1));
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return refuse("control characters are not allowed");
    }
    if (value.empty()) return refuse(fmt::format("'{}' has no value", key));
    if (!seen.insert(std::string(key)).second) return refuse(fmt::format("'{}' is set twice", key));
    if (key == "broker_host") {
      config.broker.host = value;
    } else if (key == "broker_port") {
      if (!parse_number(value, config.broker.port) || config.broker.port == 0) {
        return refuse(fmt::format("broker_port '{}' is not a port (1-65535)", value));
      }
    } else if (key == "broker_name") {
      config.broker.server_name = value;
    } else if (key == "bundle") {
      config.bundle = std::filesystem::path(value).is_absolute() ? std::filesystem::path(value) : base / value;
    } else if (key == "reader") {
      config.reader = value;
    } else if (key == "sensor_dpi") {
      int dpi = 0;
      if (!parse_number(value, dpi) || dpi < 250 || dpi > 2000) {
        return refuse(fmt::format("sensor_dpi '{}' must be a whole number from 250 to 2000", value));
      }
      config.sensor_dpi = dpi;
    } else if (key == "retry_seconds") {
      int seconds = 0;
      if (!parse_number(value, seconds) || seconds < 1 || seconds > 3600) {
        return refuse(fmt::format("retry_seconds '{}' must be from 1 to 3600", value));
      }
      config.retry_interval = std::chrono::seconds(seconds);
    } else {
      return refuse(fmt::format("unknown key '{}'", key));
    }
  }
  for (const char* required : {"broker_host", "broker_port", "bundle"}) {
    if (seen.find(std::string_view(required)) == seen.end()) {
      return make_error(ErrorCategory::config, fmt::format("'{}' is required", required));
    }
  }
  return config;
}

Result<BoxConfig> load_box_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(ErrorCategory::config, fmt::format("cannot read {}", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = parse_box_config(text.str(), file.parent_path());
  if (!parsed) return make_error(ErrorCategory::config, fmt::format("{}: {}", file.string(), parsed.error().message));
  return parsed;
}

}  // namespace sdbox::firmware
