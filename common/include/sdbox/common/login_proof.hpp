#pragma once

#include "sdbox/common/bytes.hpp"

#include <string_view>

/// What the card signs to log in: the broker's fresh challenge bound to this tunnel, this box and
/// this project, so a signature cannot be replayed, relayed through another tunnel or box, or
/// reused for another project. Both sides compute it the same way.
namespace sdbox::login {

/// RFC 8446 section 7.5 exporter label; 32 bytes are exported, with no context.
inline constexpr std::string_view kExporterLabel = "EXPORTER-SD-Box-login-v1";
inline constexpr std::size_t kExporterSize = 32;
inline constexpr std::size_t kChallengeSize = 32;

/// SHA-256 over a domain tag, the challenge, the exporter value and the length-prefixed box and
/// project names (lengths as 2-byte big-endian numbers, so no two inputs share an encoding).
Bytes proof_digest(ByteView challenge, ByteView tunnel_exporter, std::string_view box, std::string_view project);

}  // namespace sdbox::login
