#include "sdbox/common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

namespace sdbox::log {

namespace {
bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') return true;
  }
  return false;
}
}  // namespace

void init(std::string_view process_name, std::string_view level) {
  std::string chosen(level);
  if (chosen.empty()) {
    const char* from_env = std::getenv("SDBOX_LOG_LEVEL");
    chosen = from_env != nullptr ? from_env : "info";
  }
  auto logger = spdlog::stderr_color_mt(std::string(process_name));
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n %v");
  spdlog::set_level(spdlog::level::from_str(chosen));
}

std::shared_ptr<spdlog::logger> component(const std::string& name) {
  if (auto existing = spdlog::get(name)) return existing;
  auto sinks = spdlog::default_logger()->sinks();
  auto logger = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
  logger->set_level(spdlog::default_logger()->level());
  // Another thread may have registered the same name meanwhile; keep the first.
  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    if (auto existing = spdlog::get(name)) return existing;
  }
  return logger;
}

void Fields::append(std::string_view key, std::string_view value) {
  if (!text_.empty()) text_.push_back(' ');
  text_.append(key);
  text_.push_back('=');
  if (!needs_quotes(value)) {
    text_.append(value);
    return;
  }
  text_.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') text_.push_back('\\');
    if (c == '\n') {
      text_.append("\\n");
      continue;
    }
    text_.push_back(c);
  }
  text_.push_back('"');
}

}  // namespace sdbox::log
