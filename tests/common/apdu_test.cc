#include "sdbox/common/apdu.hpp"

#include "test_card.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace sdbox::apdu {
namespace {

using testing::hex;

TEST(Apdu, ParsesAllSevenCases) {
  auto case1 = Command::parse(hex("00a40400"));
  ASSERT_TRUE(case1);
  EXPECT_TRUE(case1->data.empty());
  EXPECT_FALSE(case1->ne);

  auto case2s = Command::parse(hex("00cb3fff00"));
  ASSERT_TRUE(case2s);
  EXPECT_EQ(case2s->ne, 256u);

  auto case3s = Command::parse(hex("00200080 08 3132333435360ff0"));
  ASSERT_TRUE(case3s);
  EXPECT_EQ(case3s->data.size(), 8u);
  EXPECT_FALSE(case3s->ne);

  auto case4s = Command::parse(hex("00cb3fff 05 5c035fc105 10"));
  ASSERT_TRUE(case4s);
  EXPECT_EQ(case4s->data.size(), 5u);
  EXPECT_EQ(case4s->ne, 16u);

  auto case2e = Command::parse(hex("00cb3fff 000000"));
  ASSERT_TRUE(case2e);
  EXPECT_TRUE(case2e->extended);
  EXPECT_EQ(case2e->ne, 65536u);

  auto case3e = Command::parse(hex("00db3fff 000003 aabbcc"));
  ASSERT_TRUE(case3e);
  EXPECT_EQ(case3e->data.size(), 3u);
  EXPECT_FALSE(case3e->ne);

  auto case4e = Command::parse(hex("00cb3fff 000005 5c035fc105 0100"));
  ASSERT_TRUE(case4e);
  EXPECT_EQ(case4e->data.size(), 5u);
  EXPECT_EQ(case4e->ne, 256u);
}

TEST(Apdu, RefusesMalformedCommands) {
  for (const char* text : {"", "00", "00a404", "00cb3fff05aabb", "00cb3fff02aabbccdd", "00cb3fff0000",
                           "00db3fff000000aa", "00db3fff000003aabb", "00db3fff000003aabbccdd"}) {
    auto parsed = Command::parse(hex(text));
    EXPECT_FALSE(parsed.ok()) << text;
    if (!parsed) {
      EXPECT_EQ(parsed.error().category, ErrorCategory::apdu);
    }
  }
}

TEST(Apdu, EncodesShortAndExtendedAndRoundTrips) {
  Command command{0x00, 0xDB, 0x3F, 0xFF, Bytes(300, 0x11), std::nullopt};
  EXPECT_FALSE(command.encode(Form::short_form).ok()) << "300 bytes cannot be short";
  auto extended = command.encode();
  ASSERT_TRUE(extended);
  EXPECT_EQ(extended->size(), 4u + 3u + 300u);
  auto back = Command::parse(*extended);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->data, command.data);

  Command get{0x00, 0xCB, 0x3F, 0xFF, hex("5c035fc105"), 256};
  auto short_form = get.encode();
  ASSERT_TRUE(short_form);
  EXPECT_EQ(*short_form, hex("00cb3fff055c035fc10500"));
  auto long_form = get.encode(Form::extended);
  ASSERT_TRUE(long_form);
  EXPECT_EQ(*long_form, hex("00cb3fff0000055c035fc1050100"));
  EXPECT_FALSE((Command{0, 0, 0, 0, {}, 0}.encode().ok())) << "Ne = 0 is not a valid Ne";
}

TEST(Apdu, ChainsLongCommands) {
  Command command{0x00, 0xDB, 0x3F, 0xFF, Bytes(600, 0x22), 256};
  const auto parts = command.chain();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].cla, 0x10);
  EXPECT_EQ(parts[1].cla, 0x10);
  EXPECT_EQ(parts[2].cla, 0x00);
  EXPECT_EQ(parts[0].data.size(), 255u);
  EXPECT_EQ(parts[2].data.size(), 90u);
  EXPECT_FALSE(parts[0].ne);
  EXPECT_EQ(parts[2].ne, 256u);
}

TEST(Apdu, ParsesResponses) {
  auto response = Response::parse(hex("aabb9000"));
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->ok());
  EXPECT_EQ(response->data, hex("aabb"));
  EXPECT_EQ(response->encode(), hex("aabb9000"));
  EXPECT_FALSE(Response::parse(hex("90")).ok());
}

/// A scripted card: checks each command it receives and answers from a list.
class ScriptedCard : public Transport {
 public:
  void expect(std::string_view command, std::string_view response) { script_.push_back({hex(command), hex(response)}); }
  Result<Bytes> transmit(ByteView command) override {
    if (script_.empty()) return make_error(ErrorCategory::pcsc, "unexpected command " + to_hex(command));
    auto [expected, response] = script_.front();
    script_.pop_front();
    EXPECT_EQ(to_hex(command), to_hex(expected));
    return response;
  }
  [[nodiscard]] bool done() const { return script_.empty(); }

 private:
  std::deque<std::pair<Bytes, Bytes>> script_;
};

TEST(Apdu, ExchangeCollectsGetResponseContinuations) {
  ScriptedCard card;
  card.expect("00cb3fff055c035fc10500", "0102 6103");
  card.expect("00c0000003", "030405 6102");
  card.expect("00c0000002", "0607 9000");
  auto response = exchange(card, {0x00, 0xCB, 0x3F, 0xFF, hex("5c035fc105"), 256});
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_TRUE(response->ok());
  EXPECT_EQ(response->data, hex("01020304050607"));
  EXPECT_TRUE(card.done());
}

TEST(Apdu, ExchangeRetriesWithTheExactLeOn6Cxx) {
  ScriptedCard card;
  card.expect("00fd000010", "6c03");
  card.expect("00fd000003", "050403 9000");
  auto response = exchange(card, {0x00, 0xFD, 0x00, 0x00, {}, 16});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->data, hex("050403"));
  EXPECT_TRUE(card.done());
}

TEST(Apdu, ExchangeChainsAndStopsWhenTheCardRefusesAPart) {
  ScriptedCard card;
  const std::string first = "10db3fffff" + std::string(510, 'a');
  card.expect(first, "9000");
  card.expect("00db3fff01aa", "9000");
  auto response = exchange(card, {0x00, 0xDB, 0x3F, 0xFF, Bytes(256, 0xAA), std::nullopt});
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->ok());
  EXPECT_TRUE(card.done());

  ScriptedCard refusing;
  refusing.expect(first, "6982");
  auto refused = exchange(refusing, {0x00, 0xDB, 0x3F, 0xFF, Bytes(256, 0xAA), std::nullopt});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->sw, sw::kSecurityStatusNotSatisfied);
  EXPECT_TRUE(refusing.done()) << "the rest of the chain must not be sent";
}

TEST(Apdu, DescribesStatusWords) {
  EXPECT_EQ(describe_status(0x63C2), "verification failed, 2 tries left");
  EXPECT_EQ(describe_status(0x6983), "authentication method blocked");
  EXPECT_EQ(describe_status(0x1234), "status 1234");
}

}  // namespace
}  // namespace sdbox::apdu
