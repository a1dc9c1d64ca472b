#include "clipboard_offer.hpp"

#include "wire.hpp"

namespace sdbox::desktop {

namespace {

// MS-RDPECLIP 2.2.1 message types and flags.
constexpr std::uint16_t cb_monitor_ready = 0x0001;
constexpr std::uint16_t cb_format_list = 0x0002;
constexpr std::uint16_t cb_format_list_response = 0x0003;
constexpr std::uint16_t cb_format_data_request = 0x0004;
constexpr std::uint16_t cb_format_data_response = 0x0005;
constexpr std::uint16_t cb_clip_caps = 0x0007;
constexpr std::uint16_t cb_response_ok = 0x0001;
constexpr std::uint16_t cb_response_fail = 0x0002;
constexpr std::uint16_t cb_capstype_general = 0x0001;
constexpr std::uint32_t cb_caps_version_2 = 0x0002;
constexpr std::uint32_t cb_use_long_format_names = 0x0002;

Pdu message(std::uint16_t type, std::uint16_t flags, const WireWriter& body) {
  WireWriter out;
  out.u16(type).u16(flags).u32(static_cast<std::uint32_t>(body.size())).bytes(body.data());
  return out.data();
}

}  // namespace

std::vector<Pdu> ClipboardOffer::start() const {
  WireWriter caps;
  caps.u16(1).u16(0);  // one capability set, padding
  caps.u16(cb_capstype_general).u16(12).u32(cb_caps_version_2).u32(cb_use_long_format_names);
  return {message(cb_clip_caps, 0, caps), message(cb_monitor_ready, 0, WireWriter{})};
}

std::vector<Pdu> ClipboardOffer::on_client_pdu(std::span<const std::uint8_t> pdu, ClipboardRecord& record) {
  WireReader reader(pdu);
  auto type = reader.u16();
  auto flags = reader.u16();
  auto length = reader.u32();
  if (!reader.ok() || reader.remaining() < length) return {};
  WireReader body(reader.bytes(length));
  std::vector<Pdu> replies;
  switch (type) {
    case cb_clip_caps: {
      auto sets = body.u16();
      body.skip(2);
      for (std::uint16_t i = 0; i < sets && body.ok(); ++i) {
        auto set_type = body.u16();
        auto set_length = body.u16();
        if (set_type == cb_capstype_general && set_length >= 12) {
          body.u32();  // version
          client_long_names_ = (body.u32() & cb_use_long_format_names) != 0;
          body.skip(set_length - 12u);
        } else {
          body.skip(set_length >= 4 ? set_length - 4u : 0u);
        }
      }
      break;
    }
    case cb_format_list: {
      ++record.client_format_lists;
      // Long names: id + NUL-terminated UTF-16 each; short names: id + 32 bytes each.
      std::uint32_t formats = 0;
      while (body.remaining() >= 4) {
        body.u32();
        if (client_long_names_) {
          (void)body.utf16z();
        } else {
          body.skip(32);
        }
        if (body.ok()) ++formats;
      }
      record.client_formats = formats;
      replies.push_back(message(cb_format_list_response, cb_response_ok, WireWriter{}));
      // The client has its clipboard in place now: put ours on top, as a desktop whose user
      // just copied text would.
      if (!offered_) {
        replies.push_back(format_list());
        offered_ = true;
        record.text_offered = true;
      }
      break;
    }
    case cb_format_list_response:
      if ((flags & cb_response_ok) != 0) record.offer_acknowledged = true;
      break;
    case cb_format_data_request: {
      auto format = body.u32();
      ++record.text_requests;
      replies.push_back(text_response(body.ok() ? format : 0));
      break;
    }
    default:
      break;
  }
  return replies;
}

Pdu ClipboardOffer::format_list() const {
  WireWriter body;
  body.u32(cf_unicodetext);
  if (client_long_names_) {
    body.u16(0);  // a standard format: empty name
  } else {
    body.zeros(32);
  }
  return message(cb_format_list, 0, body);
}

Pdu ClipboardOffer::text_response(std::uint32_t format) const {
  if (format != cf_unicodetext) return message(cb_format_data_response, cb_response_fail, WireWriter{});
  WireWriter body;
  body.utf16z(text_);
  return message(cb_format_data_response, cb_response_ok, body);
}

}  // namespace sdbox::desktop
