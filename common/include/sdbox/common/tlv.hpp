#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

/// BER-TLV as ISO/IEC 7816-4 uses it: tags of one to three bytes, definite lengths in short
/// or long form (up to three length bytes), constructed objects nested. Parsing is strict:
/// truncated data, indefinite lengths, over-long tags or lengths, trailing bytes and padding
/// bytes between objects are all errors.
namespace sdbox::tlv {

using Tag = std::uint32_t;

inline constexpr std::size_t kMaxTagBytes = 3;
inline constexpr std::size_t kMaxLengthBytes = 3;
inline constexpr std::size_t kMaxDepth = 16;

/// One parsed object; `value` points into the parsed buffer.
struct Object {
  Tag tag = 0;
  ByteView value;
  [[nodiscard]] bool constructed() const;
};

/// A parsed object with its children, when it is constructed.
struct Node {
  Tag tag = 0;
  ByteView value;
  std::vector<Node> children;
};

/// True when the first byte of the tag has the constructed bit (b6) set.
bool is_constructed(Tag tag);

/// Parses one object at `offset`, advancing it past the object.
Result<Object> parse_one(ByteView data, std::size_t& offset);

/// Parses a sequence of objects that must cover `data` exactly.
Result<std::vector<Object>> parse_all(ByteView data);

/// Parses a sequence and, recursively, every constructed object's contents (to kMaxDepth).
Result<std::vector<Node>> parse_tree(ByteView data);

/// The value of the first object with `tag` in the sequence `data`; nullopt when absent.
Result<std::optional<ByteView>> find(ByteView data, Tag tag);

/// The single top-level object of `data`, which must have `tag`; its value.
Result<ByteView> expect_single(ByteView data, Tag tag);

/// Tag bytes (big-endian, as many as the tag needs).
Bytes encode_tag(Tag tag);
/// Definite length in the shortest form.
Bytes encode_length(std::size_t length);
/// tag | length | value.
Bytes encode(Tag tag, ByteView value);
void append_object(Bytes& out, Tag tag, ByteView value);

}  // namespace sdbox::tlv
