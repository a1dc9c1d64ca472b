#include "sdbox/common/result.hpp"

#include <fmt/format.h>

namespace sdbox {

std::string_view to_string(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::usage: return "usage";
    case ErrorCategory::config: return "config";
    case ErrorCategory::io: return "io";
    case ErrorCategory::tlv: return "tlv";
    case ErrorCategory::apdu: return "apdu";
    case ErrorCategory::pcsc: return "pcsc";
    case ErrorCategory::card: return "card";
    case ErrorCategory::crypto: return "crypto";
    case ErrorCategory::tunnel: return "tunnel";
    case ErrorCategory::broker: return "broker";
    case ErrorCategory::internal: return "internal";
  }
  return "unknown";
}

std::string Error::describe() const {
  if (code == 0) return fmt::format("{}: {}", to_string(category), message);
  return fmt::format("{}: {} (0x{:X})", to_string(category), message, code);
}

}  // namespace sdbox
