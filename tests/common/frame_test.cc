#include "sdbox/common/frame.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sdbox::wire {
namespace {

Bytes raw_frame(std::uint8_t version, std::uint8_t type, const std::string& body, std::uint32_t announced) {
  Bytes out;
  for (const std::uint8_t byte : {version, type, std::uint8_t{0}, std::uint8_t{0}, static_cast<std::uint8_t>(announced >> 24),
                                  static_cast<std::uint8_t>(announced >> 16), static_cast<std::uint8_t>(announced >> 8),
                                  static_cast<std::uint8_t>(announced)}) {
    out.push_back(byte);
  }
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes raw_frame(FrameType type, const std::string& body) {
  return raw_frame(kProtocolVersion, static_cast<std::uint8_t>(type), body, static_cast<std::uint32_t>(body.size()));
}

std::string refusal_of(const Bytes& bytes) {
  auto frame = decode_frame(bytes);
  return frame ? "accepted" : frame.error().message;
}

TEST(Frame, RoundTripsEveryMessage) {
  const Frame sent{FrameType::projects, {{"projects", {{{"id", "p1"}, {"name", "Tax microdata 2024"}}}}, {"user", "ada"}}};
  const Bytes bytes = encode_frame(sent);
  ASSERT_GE(bytes.size(), kHeaderSize);
  EXPECT_EQ(bytes[0], kProtocolVersion);
  EXPECT_EQ(bytes[1], 0x11);
  auto header = decode_header(ByteView(bytes).first(kHeaderSize));
  ASSERT_TRUE(header) << header.error().describe();
  EXPECT_EQ(header->payload_size, bytes.size() - kHeaderSize);
  auto received = decode_frame(bytes);
  ASSERT_TRUE(received) << received.error().describe();
  EXPECT_EQ(received->type, FrameType::projects);
  EXPECT_EQ(received->body, sent.body);
  EXPECT_EQ(to_string(FrameType::session_ready), "session_ready");
}

TEST(Frame, RefusesAnotherVersionUnknownTypesAndReservedBits) {
  EXPECT_NE(refusal_of(raw_frame(2, 0x02, "{}", 2)).find("protocol version 2"), std::string::npos);
  EXPECT_NE(refusal_of(raw_frame(1, 0x7F, "{}", 2)).find("unknown frame type 127"), std::string::npos);
  Bytes reserved = raw_frame(FrameType::ping, "{}");
  reserved[3] = 1;
  EXPECT_NE(refusal_of(reserved).find("reserved"), std::string::npos);
}

TEST(Frame, RefusesOversizedAndTruncatedFrames) {
  // The header alone is enough to refuse a frame that announces too much: no memory is committed.
  auto header = decode_header(ByteView(raw_frame(1, 0x02, "", kMaxPayload + 1)).first(kHeaderSize));
  ASSERT_FALSE(header);
  EXPECT_NE(header.error().message.find("limit"), std::string::npos);
  EXPECT_TRUE(decode_header(ByteView(raw_frame(1, 0x02, "", kMaxPayload)).first(kHeaderSize)));
  EXPECT_NE(refusal_of(raw_frame(1, 0x02, "{}", 5)).find("announces 5 payload bytes, 2 came"), std::string::npos);
  EXPECT_NE(refusal_of(Bytes{1, 2, 0}).find("shorter than a header"), std::string::npos);
  EXPECT_THROW(encode_frame({FrameType::hello, {{"big", std::string(kMaxPayload, 'x')}}}), std::logic_error);
}

TEST(Frame, BodiesAreCanonicalJsonObjectsOnly) {
  EXPECT_EQ(refusal_of(raw_frame(FrameType::ping, "{\"a\":1,\"b\":[true,null]}")), "accepted");
  EXPECT_NE(refusal_of(raw_frame(FrameType::ping, "{ \"a\":1}")).find("canonical"), std::string::npos);
  EXPECT_NE(refusal_of(raw_frame(FrameType::ping, "{\"b\":1,\"a\":2}")).find("canonical"), std::string::npos);
  EXPECT_NE(refusal_of(raw_frame(FrameType::ping, "[1,2]")).find("not a JSON object"), std::string::npos);
  EXPECT_NE(refusal_of(raw_frame(FrameType::ping, "{\"a\":")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(refusal_of(raw_frame(FrameType::ping, "{\"a\":\"\xff\"}")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(refusal_of(raw_frame(FrameType::ping, "{\"a\":[[[[[[[[[[1]]]]]]]]]]}")).find("nested deeper"), std::string::npos);
  EXPECT_EQ(refusal_of(raw_frame(FrameType::ping, "{\"a\":[[[[[[1]]]]]]}")), "accepted");
}

TEST(Frame, DesktopDataCarriesRawBytesBothWays) {
  Frame sent{FrameType::desktop_data, nlohmann::json::object(), Bytes{0x03, 0x00, 0x00, 0x0b, 0x06, 0xe0, 0x00, '{', 0xff}};
  const Bytes bytes = encode_frame(sent);
  EXPECT_EQ(bytes[1], 0x30);
  EXPECT_EQ(bytes.size(), kHeaderSize + sent.data.size());
  auto received = decode_frame(bytes);
  ASSERT_TRUE(received) << received.error().describe();
  EXPECT_EQ(received->type, FrameType::desktop_data);
  EXPECT_EQ(received->data, sent.data);
  EXPECT_TRUE(received->body.empty());
  // Not empty, and never larger than any other frame.
  EXPECT_NE(refusal_of(raw_frame(FrameType::desktop_data, "")).find("empty desktop_data"), std::string::npos);
  EXPECT_THROW(encode_frame({FrameType::desktop_data, nlohmann::json::object(), Bytes{}}), std::logic_error);
  EXPECT_THROW(encode_frame({FrameType::desktop_data, nlohmann::json::object(), Bytes(kMaxPayload + 1, 0)}), std::logic_error);
  EXPECT_TRUE(decode_frame(encode_frame({FrameType::desktop_data, nlohmann::json::object(), Bytes(kMaxPayload, 7)})));
  // The control frames around it stay JSON.
  EXPECT_NE(refusal_of(raw_frame(FrameType::desktop_close, "logoff")).find("not valid JSON"), std::string::npos);
  EXPECT_EQ(refusal_of(raw_frame(FrameType::session_ended, "{\"reason\":\"taken_over\"}")), "accepted");
}

}  // namespace
}  // namespace sdbox::wire
