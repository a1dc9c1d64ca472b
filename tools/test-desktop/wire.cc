#include "wire.hpp"

namespace sdbox::desktop {

WireWriter& WireWriter::u8(std::uint8_t value) {
  data_.push_back(value);
  return *this;
}

WireWriter& WireWriter::u16(std::uint16_t value) {
  data_.push_back(static_cast<std::uint8_t>(value & 0xFF));
  data_.push_back(static_cast<std::uint8_t>(value >> 8));
  return *this;
}

WireWriter& WireWriter::u32(std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) data_.push_back(static_cast<std::uint8_t>((value >> shift) & 0xFF));
  return *this;
}

WireWriter& WireWriter::bytes(std::span<const std::uint8_t> data) {
  data_.insert(data_.end(), data.begin(), data.end());
  return *this;
}

WireWriter& WireWriter::zeros(std::size_t count) {
  data_.insert(data_.end(), count, 0);
  return *this;
}

WireWriter& WireWriter::utf16z(std::string_view text) {
  // Decode UTF-8 leniently: our texts are fixed and ASCII-heavy; a broken byte becomes U+FFFD.
  for (std::size_t i = 0; i < text.size();) {
    auto lead = static_cast<unsigned char>(text[i]);
    std::uint32_t code = 0xFFFD;
    std::size_t length = 1;
    if (lead < 0x80) {
      code = lead;
    } else if ((lead & 0xE0) == 0xC0 && i + 1 < text.size()) {
      code = ((lead & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      length = 2;
    } else if ((lead & 0xF0) == 0xE0 && i + 2 < text.size()) {
      code = ((lead & 0x0Fu) << 12) | ((static_cast<unsigned char>(text[i + 1]) & 0x3Fu) << 6) |
             (static_cast<unsigned char>(text[i + 2]) & 0x3Fu);
      length = 3;
    }
    u16(static_cast<std::uint16_t>(code > 0xFFFF ? 0xFFFD : code));
    i += length;
  }
  return u16(0);
}

void WireWriter::patch_u32(std::size_t offset, std::uint32_t value) {
  for (std::size_t i = 0; i < 4 && offset + i < data_.size(); ++i) {
    data_[offset + i] = static_cast<std::uint8_t>((value >> (8 * i)) & 0xFF);
  }
}

bool WireReader::take(std::size_t count) {
  if (!ok_ || data_.size() - position_ < count) {
    ok_ = false;
    return false;
  }
  return true;
}

std::uint8_t WireReader::u8() {
  if (!take(1)) return 0;
  return data_[position_++];
}

std::uint16_t WireReader::u16() {
  if (!take(2)) return 0;
  auto value = static_cast<std::uint16_t>(data_[position_] | (data_[position_ + 1] << 8));
  position_ += 2;
  return value;
}

std::uint32_t WireReader::u32() {
  if (!take(4)) return 0;
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value |= static_cast<std::uint32_t>(data_[position_ + i]) << (8 * i);
  position_ += 4;
  return value;
}

std::span<const std::uint8_t> WireReader::bytes(std::size_t count) {
  if (!take(count)) return {};
  auto view = data_.subspan(position_, count);
  position_ += count;
  return view;
}

std::string WireReader::utf16z() {
  std::string text;
  while (remaining() >= 2) {
    std::uint16_t unit = u16();
    if (unit == 0) break;
    append_utf8(text, unit);
  }
  return text;
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point >= 0xD800 && code_point <= 0xDFFF) code_point = 0xFFFD;
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

}  // namespace sdbox::desktop
