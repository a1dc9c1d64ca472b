#pragma once

#include "sdbox/common/result.hpp"

#include <string>
#include <string_view>

namespace sdbox {

/// Reads a secret from the terminal without echo; from stdin (one line) when there is no
/// terminal, so scripts can pipe it.
Result<std::string> read_secret(std::string_view prompt);

}  // namespace sdbox
