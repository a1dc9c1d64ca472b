#include "sdbox/common/tlv.hpp"

#include <fmt/format.h>

namespace sdbox::tlv {

namespace {

Error malformed(std::string message, std::size_t offset) {
  return make_error(ErrorCategory::tlv, fmt::format("{} at offset {}", message, offset));
}

Result<Tag> parse_tag(ByteView data, std::size_t& offset) {
  const std::size_t start = offset;
  if (offset >= data.size()) return malformed("missing tag", start);
  const std::uint8_t first = data[offset++];
  if (first == 0x00 || first == 0xFF) return malformed("padding byte where a tag was expected", start);
  Tag tag = first;
  if ((first & 0x1F) != 0x1F) return tag;
  for (std::size_t count = 1;; ++count) {
    if (count == kMaxTagBytes) return malformed("tag longer than 3 bytes", start);
    if (offset >= data.size()) return malformed("truncated tag", start);
    const std::uint8_t next = data[offset++];
    if (count == 1 && next == 0x80) return malformed("tag with a leading zero sub-identifier", start);
    tag = (tag << 8) | next;
    if ((next & 0x80) == 0) return tag;
  }
}

Result<std::size_t> parse_length(ByteView data, std::size_t& offset) {
  const std::size_t start = offset;
  if (offset >= data.size()) return malformed("missing length", start);
  const std::uint8_t first = data[offset++];
  if (first < 0x80) return std::size_t{first};
  if (first == 0x80) return malformed("indefinite length is not allowed", start);
  const std::size_t count = first & 0x7F;
  if (count > kMaxLengthBytes) return malformed("length field longer than 3 bytes", start);
  if (data.size() - offset < count) return malformed("truncated length", start);
  std::size_t length = 0;
  for (std::size_t i = 0; i < count; ++i) length = (length << 8) | data[offset++];
  return length;
}

Status parse_children(Node& node, std::size_t depth);

Result<std::vector<Node>> parse_level(ByteView data, std::size_t depth) {
  if (depth > kMaxDepth) return make_error(ErrorCategory::tlv, "nesting deeper than 16 levels");
  auto objects = parse_all(data);
  if (!objects) return objects.error();
  std::vector<Node> nodes;
  nodes.reserve(objects->size());
  for (const Object& object : *objects) {
    Node node{object.tag, object.value, {}};
    if (object.constructed()) {
      auto status = parse_children(node, depth + 1);
      if (!status) return status.error();
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

Status parse_children(Node& node, std::size_t depth) {
  auto children = parse_level(node.value, depth);
  if (!children) return children.error();
  node.children = std::move(*children);
  return {};
}

}  // namespace

bool is_constructed(Tag tag) {
  Tag first = tag;
  while (first > 0xFF) first >>= 8;
  return (first & 0x20) != 0;
}

bool Object::constructed() const { return is_constructed(tag); }

Result<Object> parse_one(ByteView data, std::size_t& offset) {
  std::size_t cursor = offset;
  auto tag = parse_tag(data, cursor);
  if (!tag) return tag.error();
  const std::size_t length_at = cursor;
  auto length = parse_length(data, cursor);
  if (!length) return length.error();
  if (data.size() - cursor < *length) {
    return malformed(fmt::format("value of {} bytes overruns the {} bytes left", *length, data.size() - cursor),
                     length_at);
  }
  Object object{*tag, data.subspan(cursor, *length)};
  offset = cursor + *length;
  return object;
}

Result<std::vector<Object>> parse_all(ByteView data) {
  std::vector<Object> objects;
  std::size_t offset = 0;
  while (offset < data.size()) {
    auto object = parse_one(data, offset);
    if (!object) return object.error();
    objects.push_back(*object);
  }
  return objects;
}

Result<std::vector<Node>> parse_tree(ByteView data) { return parse_level(data, 0); }

Result<std::optional<ByteView>> find(ByteView data, Tag tag) {
  auto objects = parse_all(data);
  if (!objects) return objects.error();
  for (const Object& object : *objects) {
    if (object.tag == tag) return std::optional<ByteView>(object.value);
  }
  return std::optional<ByteView>();
}

Result<ByteView> expect_single(ByteView data, Tag tag) {
  std::size_t offset = 0;
  auto object = parse_one(data, offset);
  if (!object) return object.error();
  if (object->tag != tag) {
    return make_error(ErrorCategory::tlv, fmt::format("expected tag {:X}, found {:X}", tag, object->tag));
  }
  if (offset != data.size()) return malformed("trailing bytes after the object", offset);
  return object->value;
}

Bytes encode_tag(Tag tag) {
  Bytes out;
  if (tag > 0xFFFF) out.push_back(static_cast<std::uint8_t>(tag >> 16));
  if (tag > 0xFF) out.push_back(static_cast<std::uint8_t>(tag >> 8));
  out.push_back(static_cast<std::uint8_t>(tag));
  return out;
}

Bytes encode_length(std::size_t length) {
  if (length < 0x80) return {static_cast<std::uint8_t>(length)};
  if (length <= 0xFF) return {0x81, static_cast<std::uint8_t>(length)};
  if (length <= 0xFFFF) return {0x82, static_cast<std::uint8_t>(length >> 8), static_cast<std::uint8_t>(length)};
  return {0x83, static_cast<std::uint8_t>(length >> 16), static_cast<std::uint8_t>(length >> 8),
          static_cast<std::uint8_t>(length)};
}

void append_object(Bytes& out, Tag tag, ByteView value) {
  append(out, encode_tag(tag));
  append(out, encode_length(value.size()));
  append(out, value);
}

Bytes encode(Tag tag, ByteView value) {
  Bytes out;
  append_object(out, tag, value);
  return out;
}

}  // namespace sdbox::tlv
