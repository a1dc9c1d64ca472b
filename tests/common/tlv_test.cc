#include "sdbox/common/tlv.hpp"

#include "test_card.hpp"

#include <gtest/gtest.h>

namespace sdbox::tlv {
namespace {

using testing::hex;

TEST(Tlv, EncodesShortAndLongFormLengths) {
  EXPECT_EQ(encode_length(0), hex("00"));
  EXPECT_EQ(encode_length(127), hex("7f"));
  EXPECT_EQ(encode_length(128), hex("8180"));
  EXPECT_EQ(encode_length(255), hex("81ff"));
  EXPECT_EQ(encode_length(256), hex("820100"));
  EXPECT_EQ(encode_length(65535), hex("82ffff"));
  EXPECT_EQ(encode_length(65536), hex("83010000"));
}

TEST(Tlv, EncodesMultiByteTags) {
  EXPECT_EQ(encode_tag(0x53), hex("53"));
  EXPECT_EQ(encode_tag(0x7F49), hex("7f49"));
  EXPECT_EQ(encode_tag(0x5FC105), hex("5fc105"));
}

TEST(Tlv, RoundTripsEveryLengthForm) {
  for (std::size_t size : {0u, 1u, 127u, 128u, 255u, 256u, 1000u, 70000u}) {
    const Bytes value(size, 0xAB);
    const Bytes encoded = encode(0x5FC105, value);
    auto objects = parse_all(encoded);
    ASSERT_TRUE(objects) << size << ": " << objects.error().describe();
    ASSERT_EQ(objects->size(), 1u);
    EXPECT_EQ((*objects)[0].tag, 0x5FC105u);
    EXPECT_EQ(Bytes((*objects)[0].value.begin(), (*objects)[0].value.end()), value);
  }
}

TEST(Tlv, ParsesNestedTemplates) {
  // 7C { 82 00, 81 03 010203 } as in GENERAL AUTHENTICATE.
  const Bytes data = hex("7c07820081 03010203");
  auto tree = parse_tree(data);
  ASSERT_TRUE(tree) << tree.error().describe();
  ASSERT_EQ(tree->size(), 1u);
  const Node& outer = (*tree)[0];
  EXPECT_EQ(outer.tag, 0x7Cu);
  ASSERT_EQ(outer.children.size(), 2u);
  EXPECT_EQ(outer.children[0].tag, 0x82u);
  EXPECT_TRUE(outer.children[0].value.empty());
  EXPECT_EQ(outer.children[1].tag, 0x81u);
  EXPECT_EQ(outer.children[1].value.size(), 3u);
}

TEST(Tlv, FindsAndExpects) {
  const Bytes data = hex("5c035fc105 5302aabb");
  auto found = find(data, 0x53);
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->size(), 2u);
  auto absent = find(data, 0x70);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
  EXPECT_FALSE(expect_single(data, 0x5C).ok()) << "trailing object must be refused";
  EXPECT_FALSE(expect_single(hex("5302aabb"), 0x5C).ok()) << "wrong tag must be refused";
  EXPECT_TRUE(expect_single(hex("5302aabb"), 0x53).ok());
}

Bytes nested(std::size_t levels) {
  Bytes data = encode(0x80, Bytes{0x01});
  for (std::size_t i = 0; i < levels; ++i) data = encode(0x7F61, data);
  return data;
}

TEST(Tlv, LimitsNestingDepth) {
  EXPECT_TRUE(parse_tree(nested(kMaxDepth)).ok());
  auto too_deep = parse_tree(nested(kMaxDepth + 2));
  ASSERT_FALSE(too_deep.ok());
  EXPECT_NE(too_deep.error().message.find("nesting"), std::string::npos) << too_deep.error().message;
  EXPECT_TRUE(parse_all(nested(kMaxDepth + 2)).ok()) << "a flat parse does not descend";
}

struct Malformed {
  const char* name;
  const char* hex;
};

void PrintTo(const Malformed& malformed, std::ostream* out) { *out << malformed.name; }

class TlvMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(TlvMalformed, IsRefusedWithATlvError) {
  const Bytes data = hex(GetParam().hex);
  auto parsed = parse_tree(data);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().category, ErrorCategory::tlv);
  EXPECT_FALSE(parsed.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TlvMalformed,
    ::testing::Values(Malformed{"value_overruns", "5305aabb"}, Malformed{"missing_length", "53"},
                      Malformed{"indefinite_length", "5380aabb0000"}, Malformed{"length_of_four_bytes", "538400000001aa"},
                      Malformed{"truncated_long_length", "5382 01"}, Malformed{"truncated_tag", "5f"},
                      Malformed{"tag_too_long", "5fc1c1c10100"}, Malformed{"leading_padding", "005301aa"},
                      Malformed{"ff_padding", "ff5301aa"}, Malformed{"zero_subidentifier", "5f800100"},
                      Malformed{"nested_overrun", "7c038205aa"}),
    [](const auto& test_case) { return std::string(test_case.param.name); });

}  // namespace
}  // namespace sdbox::tlv
