#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sdbox {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

/// Lower-case hex without separators.
std::string to_hex(ByteView bytes);

/// Parses hex, ignoring spaces and colons; empty optional-like result (false) on bad input.
bool from_hex(std::string_view text, Bytes& out);

inline Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

inline void append(Bytes& to, ByteView from) { to.insert(to.end(), from.begin(), from.end()); }

/// Overwrites the buffer before releasing it; for PINs and key material held in memory.
void secure_wipe(Bytes& bytes);
void secure_wipe(std::string& text);

/// Constant-time comparison of equal-length secrets.
bool equal_constant_time(ByteView a, ByteView b);

}  // namespace sdbox
