#include "sdbox/common/finger_template.hpp"

#include "test_card.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace sdbox::finger {
namespace {

using testing::hex;

TEST(FingerTemplate, CompactMinutiaeRoundTripThreeBytesEach) {
  const std::vector<CompactMinutia> minutiae{{10, 20, MinutiaType::ending, 0},
                                             {255, 0, MinutiaType::bifurcation, 63},
                                             {128, 200, MinutiaType::other, 17}};
  const Bytes encoded = encode_compact(minutiae);
  EXPECT_EQ(to_hex(encoded), "0a1440" "ff00bf" "80c811");
  auto decoded = decode_compact(encoded);
  ASSERT_TRUE(decoded) << decoded.error().describe();
  EXPECT_EQ(*decoded, minutiae);
}

TEST(FingerTemplate, MalformedTemplatesAreRefused) {
  EXPECT_FALSE(decode_compact({}).ok()) << "empty";
  EXPECT_FALSE(decode_compact(hex("0a14")).ok()) << "not a multiple of three";
  EXPECT_FALSE(decode_compact(hex("0a1440 0a14")).ok()) << "trailing bytes";
  auto reserved = decode_compact(hex("0a1440 0a14c0"));
  ASSERT_FALSE(reserved.ok()) << "type 3 is reserved";
  EXPECT_NE(reserved.error().message.find("reserved"), std::string::npos);
}

TEST(FingerTemplate, QuantisesPrunesByQualityAndOrdersForTheCard) {
  std::vector<Minutia> minutiae;
  minutiae.reserve(22);
  for (int i = 0; i < 20; ++i) {
    minutiae.push_back({1.0 + i * 0.5, 20.0 - i * 0.7, i * 0.3, MinutiaType::ending, i / 20.0});
  }
  CardTemplateRules rules;
  rules.min_minutiae = 5;
  rules.max_minutiae = 10;
  rules.ordering = order::kAscending | order::kXY;
  auto compact = to_card_template(minutiae, rules);
  ASSERT_TRUE(compact) << compact.error().describe();
  ASSERT_EQ(compact->size(), 10u) << "pruned to the card's maximum";
  // The minutiae span x = 1.0..10.5 mm, centred on 12.75 mm: moved by 7 mm. The best ten have
  // i = 10..19, x = 6.0..10.5 mm, so 13.0..17.5 mm on the card.
  EXPECT_EQ(compact->front().x, 130);
  EXPECT_EQ(compact->back().x, 175);
  for (std::size_t i = 1; i < compact->size(); ++i) EXPECT_LT((*compact)[i - 1].x, (*compact)[i].x);
  // 19 * 0.3 rad = 5.7 rad = 0.907 turn = 58.06 steps.
  EXPECT_EQ(compact->back().angle, 58);

  rules.min_minutiae = 25;
  auto too_few = to_card_template(minutiae, rules);
  ASSERT_FALSE(too_few);
  EXPECT_EQ(too_few.error().category, ErrorCategory::usage);
}

TEST(FingerTemplate, CentresTheFingerSoWideCapturesKeepTheirMinutiae) {
  // A sensor wider than the format's 25.5 mm (FVC2004's is 32.5 mm): a finger on its right-hand
  // side keeps every minutia, at the same distances from each other.
  CardTemplateRules rules;
  rules.min_minutiae = 2;
  auto right_side = to_card_template({{7.0, 3.0, 0, MinutiaType::ending, 1}, {31.0, 27.0, 0, MinutiaType::bifurcation, 1}}, rules);
  ASSERT_TRUE(right_side) << right_side.error().describe();
  ASSERT_EQ(right_side->size(), 2u);
  EXPECT_EQ(right_side->at(1).x - right_side->at(0).x, 240);
  EXPECT_EQ(right_side->at(1).y - right_side->at(0).y, 240);
  // Wider than the format itself: what lies beyond 12.75 mm of the centre is left out.
  rules.min_minutiae = 1;
  auto too_wide = to_card_template({{0.0, 5.0, 0, MinutiaType::ending, 1}, {15.0, 5.0, 0, MinutiaType::ending, 1},
                                    {30.5, 5.0, 0, MinutiaType::ending, 1}, {std::nan(""), 5.0, 0, MinutiaType::ending, 1}},
                                   rules);
  ASSERT_TRUE(too_wide) << too_wide.error().describe();
  ASSERT_EQ(too_wide->size(), 1u);
  EXPECT_EQ(too_wide->front().x, 125);  // 15.0 mm moved by -2.5 mm (the span is 0..30.5 mm)
}

TEST(FingerTemplate, AnglesWrapAroundTheTurn) {
  CardTemplateRules rules;
  rules.min_minutiae = 1;
  auto compact = to_card_template({{1, 1, -0.01, MinutiaType::ending, 1}, {2, 2, 2 * std::numbers::pi - 0.01,
                                                                             MinutiaType::bifurcation, 1}},
                                  rules);
  ASSERT_TRUE(compact);
  for (const auto& m : *compact) EXPECT_EQ(m.angle, 0);
}

TEST(FingerTemplate, BitGroupRoundTrips) {
  CardTemplateRules right{0x96, position::kRight | position::kIndex, 12, 60, order::kAscending | order::kXY};
  CardTemplateRules left{0x97, position::kLeft | position::kIndex, 10, 50, order::kNone};
  const Bytes group = encode_bit_group({right, left});
  auto parsed = parse_bit_group(group);
  ASSERT_TRUE(parsed) << parsed.error().describe();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].key_reference, 0x96);
  EXPECT_EQ((*parsed)[0].finger_position, position::kRight | position::kIndex);
  EXPECT_EQ((*parsed)[1].min_minutiae, 10);
  EXPECT_EQ((*parsed)[1].max_minutiae, 50);
  EXPECT_EQ((*parsed)[1].ordering, order::kNone);
  EXPECT_TRUE(parse_bit_group(encode_bit_group({})).ok());
}

TEST(FingerTemplate, MalformedBitGroupsAreRefused) {
  const Bytes good = encode_bit_group({CardTemplateRules{}});
  const std::string text = to_hex(good);
  auto mutate = [&](const std::string& from, const std::string& to) {
    std::string changed = text;
    const auto at = changed.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    changed.replace(at, from.size(), to);
    return hex(changed);
  };
  EXPECT_FALSE(parse_bit_group(mutate("88020006", "88020004")).ok()) << "another format type";
  EXPECT_FALSE(parse_bit_group(mutate("810108", "810102")).ok()) << "not a finger";
  EXPECT_FALSE(parse_bit_group(mutate("81020c3c", "81023c0c")).ok()) << "min above max";
  EXPECT_FALSE(parse_bit_group(mutate("020101", "020102")).ok()) << "count mismatch";
  EXPECT_FALSE(parse_bit_group(hex("7f6100")).ok()) << "no count";
  EXPECT_FALSE(parse_bit_group(ByteView(good).first(good.size() - 1)).ok()) << "truncated";
}

}  // namespace
}  // namespace sdbox::finger
