#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

/// Little-endian PDU building and parsing for the virtual-channel protocols the test desktop
/// speaks itself (clipboard, device redirection, audio): all of them are little-endian.
namespace sdbox::desktop {

class WireWriter {
 public:
  WireWriter& u8(std::uint8_t value);
  WireWriter& u16(std::uint16_t value);
  WireWriter& u32(std::uint32_t value);
  WireWriter& bytes(std::span<const std::uint8_t> data);
  WireWriter& zeros(std::size_t count);
  /// UTF-16LE of an ASCII/UTF-8 string (BMP only, enough for our fixed texts) plus a NUL.
  WireWriter& utf16z(std::string_view text);
  /// Overwrites a u32 written earlier (a length known only at the end).
  void patch_u32(std::size_t offset, std::uint32_t value);

  [[nodiscard]] std::size_t size() const { return data_.size(); }
  [[nodiscard]] const std::vector<std::uint8_t>& data() const { return data_; }

 private:
  std::vector<std::uint8_t> data_;
};

/// Reads fields in order; any read past the end makes every later read fail, so a parser can
/// read a whole header and check `ok()` once.
class WireReader {
 public:
  explicit WireReader(std::span<const std::uint8_t> data) : data_(data) {}

  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u32();
  std::span<const std::uint8_t> bytes(std::size_t count);
  void skip(std::size_t count) { (void)bytes(count); }
  /// A NUL-terminated UTF-16LE string, returned as UTF-8 (BMP only); stops at the end of data.
  std::string utf16z();

  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::size_t remaining() const { return ok_ ? data_.size() - position_ : 0; }

 private:
  bool take(std::size_t count);
  std::span<const std::uint8_t> data_;
  std::size_t position_ = 0;
  bool ok_ = true;
};

/// UTF-8 for one BMP code point (surrogates are replaced by U+FFFD: logs and reports only).
void append_utf8(std::string& out, std::uint32_t code_point);

}  // namespace sdbox::desktop
