// The test desktop's pure parts: canvas layout, the clipboard and device-redirection PDUs, the
// users file and the session lifecycle. The RDP side is covered by test_desktop_test.sh.
#include "clipboard_offer.hpp"
#include "desktop_canvas.hpp"
#include "device_redirection_probe.hpp"
#include "session_registry.hpp"
#include "user_directory.hpp"
#include "wire.hpp"

#include <gtest/gtest.h>

namespace sdbox::desktop {
namespace {

TEST(DesktopCanvas, BandFollowsTheClockAndBitLinesShowState) {
  CanvasState state{0b101, 3, LastInput{0x1C, 0x8000, 640, 512}};
  EXPECT_EQ(canvas_pixel(state, 5, 0), band_colour(5));
  EXPECT_NE(band_colour(5), band_colour(6));
  // Tick line: bit 0 is the last of 32 cells (x = 31 * 16), bit 1 the one before.
  EXPECT_EQ(canvas_pixel(state, 31 * 16, 64), 0xFFFFFFu);
  EXPECT_EQ(canvas_pixel(state, 30 * 16, 64), 0x000000u);
  EXPECT_EQ(canvas_pixel(state, 29 * 16 + 15, 79), 0xFFFFFFu);
  // Key line: flags 0x8000 in the high half -> cell 0 set.
  EXPECT_EQ(canvas_pixel(state, 0, 96), 0xFFFFFFu);
  // Mouse line: x = 640 = bit 9 of the high half -> bit 25 -> cell 6.
  EXPECT_EQ(canvas_pixel(state, 6 * 16, 112), 0xFFFFFFu);
  EXPECT_EQ(canvas_pixel(state, 600, 70), canvas::beside_bits);
  EXPECT_EQ(canvas_pixel(state, 10, 500), canvas::background);
}

TEST(DesktopCanvas, RowsAreBgraTopDown) {
  CanvasState state{7, 0, {}};
  std::vector<std::uint8_t> pixels(std::size_t{4} * 4 * 4);
  render_rows(state, 4, 62, 4, pixels);  // rows 62, 63 band; 64, 65 tick line
  auto band = band_colour(7);
  // The first row is row 62: the band, as B, G, R, A.
  EXPECT_EQ(pixels[0], band & 0xFF);
  EXPECT_EQ(pixels[1], (band >> 8) & 0xFF);
  EXPECT_EQ(pixels[2], (band >> 16) & 0xFF);
  EXPECT_EQ(pixels[3], 0xFF);
  // The last row is 65, a tick line cell: black (bit 31 of 7 is 0).
  EXPECT_EQ(pixels[std::size_t{3} * 4 * 4], 0);
}

std::vector<std::uint8_t> clip_message(std::uint16_t type, std::uint16_t flags, const WireWriter& body) {
  WireWriter out;
  out.u16(type).u16(flags).u32(static_cast<std::uint32_t>(body.size())).bytes(body.data());
  return out.data();
}

TEST(ClipboardOffer, OffersUnicodeTextAfterTheClientsFormatListAndServesIt) {
  ClipboardOffer offer("hé");
  ClipboardRecord record;
  auto start = offer.start();
  ASSERT_EQ(start.size(), 2u);
  EXPECT_EQ(start[0][0], 0x07);  // CB_CLIP_CAPS
  EXPECT_EQ(start[1][0], 0x01);  // CB_MONITOR_READY

  WireWriter caps;
  caps.u16(1).u16(0).u16(1).u16(12).u32(2).u32(0x2);  // long format names
  EXPECT_TRUE(offer.on_client_pdu(clip_message(0x07, 0, caps), record).empty());

  WireWriter formats;
  formats.u32(13).u16(0).u32(0xC004).utf16z("HTML Format");
  auto replies = offer.on_client_pdu(clip_message(0x02, 0, formats), record);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0], clip_message(0x03, 0x0001, WireWriter{}));
  WireWriter ours;
  ours.u32(13).u16(0);
  EXPECT_EQ(replies[1], clip_message(0x02, 0, ours));
  EXPECT_EQ(record.client_formats, 2u);
  EXPECT_TRUE(record.text_offered);

  offer.on_client_pdu(clip_message(0x03, 0x0001, WireWriter{}), record);
  EXPECT_TRUE(record.offer_acknowledged);

  WireWriter request;
  request.u32(13);
  replies = offer.on_client_pdu(clip_message(0x04, 0, request), record);
  ASSERT_EQ(replies.size(), 1u);
  WireWriter text;
  text.u16('h').u16(0xE9).u16(0);
  EXPECT_EQ(replies[0], clip_message(0x05, 0x0001, text));
  EXPECT_EQ(record.text_requests, 1u);

  // A truncated PDU is ignored, not read past its end.
  EXPECT_TRUE(offer.on_client_pdu(std::vector<std::uint8_t>{0x02, 0x00, 0x00}, record).empty());
}

TEST(DeviceRedirectionProbe, WalksTheHandshakeAndRecordsAnnouncedDevices) {
  DeviceRedirectionProbe probe;
  std::vector<AnnouncedDevice> devices;
  auto start = probe.start();
  ASSERT_EQ(start.size(), 1u);
  WireReader announce(start[0]);
  EXPECT_EQ(announce.u16(), 0x4472);
  EXPECT_EQ(announce.u16(), 0x496E);

  WireWriter reply;
  reply.u16(0x4472).u16(0x4343).u16(1).u16(0x0C).u32(0x2A);
  auto answers = probe.on_client_pdu(reply.data(), devices);
  ASSERT_EQ(answers.size(), 2u);  // capabilities, client id confirm
  WireWriter caps;
  caps.u16(0x4472).u16(0x4350).u16(0).u16(0);
  answers = probe.on_client_pdu(caps.data(), devices);
  ASSERT_EQ(answers.size(), 1u);  // user logged on
  EXPECT_EQ(answers[0], (std::vector<std::uint8_t>{0x72, 0x44, 0x4C, 0x55}));

  WireWriter list;
  list.u16(0x4472).u16(0x4441).u32(2);
  const std::uint8_t home[8] = {'H', 'O', 'M', 'E', 0, 0, 0, 0};
  list.u32(0x08).u32(1).bytes(home).u32(3).bytes(std::vector<std::uint8_t>{'a', 'b', 0});
  const std::uint8_t card[8] = {'S', 'C', 'A', 'R', 'D', 0, 0, 0};
  list.u32(0x20).u32(2).bytes(card).u32(0);
  answers = probe.on_client_pdu(list.data(), devices);
  EXPECT_EQ(answers.size(), 2u);
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[0].type, "drive");
  EXPECT_EQ(devices[0].name, "HOME");
  EXPECT_EQ(devices[1].type, "smartcard");
}

TEST(UserDirectory, ParsesUserPasswordLinesAndNeverEchoesThem) {
  auto users = UserDirectory::parse("# fixtures\nalice:wonder:land\n\nbob:builder\r\n");
  ASSERT_TRUE(users.ok());
  EXPECT_TRUE(users->accepts("alice", "wonder:land"));
  EXPECT_FALSE(users->accepts("alice", "wonder"));
  EXPECT_FALSE(users->accepts("carol", "builder"));
  EXPECT_TRUE(users->accepts("bob", "builder"));

  auto bad = UserDirectory::parse("alice:one\nsecret-without-colon\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "line 2 is not user:password");
  EXPECT_FALSE(UserDirectory::parse("alice:a\nalice:b\n").ok());
  EXPECT_FALSE(UserDirectory::parse("\n# nobody\n").ok());
}

TEST(SessionRegistry, SessionsOutliveDisconnectsAndEndOnlyByLogoff) {
  SessionRegistry registry;
  auto first = registry.attach("alice", 1);
  EXPECT_TRUE(registry.still_attached(first, 1));
  registry.detach(first, 1);
  EXPECT_FALSE(registry.still_attached(first, 1));
  EXPECT_EQ(registry.report()["sessions"][0]["state"], "disconnected");

  EXPECT_EQ(registry.attach("alice", 2), first);
  // A second logon takes the session over; the first connection's late detach changes nothing.
  EXPECT_EQ(registry.attach("alice", 3), first);
  EXPECT_FALSE(registry.still_attached(first, 2));
  registry.detach(first, 2);
  EXPECT_EQ(registry.report()["sessions"][0]["state"], "connected");
  EXPECT_EQ(registry.report()["sessions"][0]["connections"], 3);

  EXPECT_NE(registry.attach("bob", 4), first);
  EXPECT_TRUE(registry.logoff("alice").ok());
  EXPECT_FALSE(registry.still_attached(first, 3));
  EXPECT_FALSE(registry.logoff("alice").ok());
  EXPECT_FALSE(registry.disconnect("alice").ok());
  auto next = registry.attach("alice", 5);
  EXPECT_NE(next, first);
  auto report = registry.report();
  ASSERT_EQ(report["sessions"].size(), 3u);
  EXPECT_EQ(report["sessions"][0]["state"], "ended");
}

}  // namespace
}  // namespace sdbox::desktop
