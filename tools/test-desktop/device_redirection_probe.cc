#include "device_redirection_probe.hpp"

#include "wire.hpp"

#include <string>

namespace sdbox::desktop {

namespace {

// MS-RDPEFS 2.2.1.1 and 2.2.2: component and packet ids.
constexpr std::uint16_t rdpdr_ctyp_core = 0x4472;
constexpr std::uint16_t pakid_core_server_announce = 0x496E;
constexpr std::uint16_t pakid_core_clientid_confirm = 0x4343;
constexpr std::uint16_t pakid_core_client_capability = 0x4350;
constexpr std::uint16_t pakid_core_server_capability = 0x5350;
constexpr std::uint16_t pakid_core_user_loggedon = 0x554C;
constexpr std::uint16_t pakid_core_devicelist_announce = 0x4441;
constexpr std::uint16_t pakid_core_device_reply = 0x6472;
constexpr std::uint16_t version_major = 1;
constexpr std::uint16_t version_minor = 0x000C;

WireWriter header(std::uint16_t packet) {
  WireWriter out;
  out.u16(rdpdr_ctyp_core).u16(packet);
  return out;
}

std::string device_type_name(std::uint32_t type) {
  switch (type) {
    case 0x01: return "serial";
    case 0x02: return "parallel";
    case 0x04: return "printer";
    case 0x08: return "drive";
    case 0x20: return "smartcard";
    default: return "type-" + std::to_string(type);
  }
}

Pdu server_capabilities() {
  auto out = header(pakid_core_server_capability);
  out.u16(5).u16(0);
  // General capability set (44 bytes, version 2): offer device removal and "user logged on".
  out.u16(1).u16(44).u32(2);
  out.u32(0).u32(0).u16(version_major).u16(version_minor).u32(0xFFFF).u32(0).u32(0x7).u32(0).u32(0).u32(0);
  // Printer, port, drive and smartcard sets: we accept every kind of device.
  out.u16(2).u16(8).u32(1);
  out.u16(3).u16(8).u32(1);
  out.u16(4).u16(8).u32(2);
  out.u16(5).u16(8).u32(1);
  return out.data();
}

}  // namespace

std::vector<Pdu> DeviceRedirectionProbe::start() const {
  auto out = header(pakid_core_server_announce);
  out.u16(version_major).u16(version_minor).u32(client_id_);
  return {out.data()};
}

std::vector<Pdu> DeviceRedirectionProbe::on_client_pdu(std::span<const std::uint8_t> pdu,
                                                       std::vector<AnnouncedDevice>& devices) {
  WireReader reader(pdu);
  auto component = reader.u16();
  auto packet = reader.u16();
  if (!reader.ok() || component != rdpdr_ctyp_core) return {};
  std::vector<Pdu> replies;
  switch (packet) {
    case pakid_core_clientid_confirm: {  // the Client Announce Reply
      replies.push_back(server_capabilities());
      auto confirm = header(pakid_core_clientid_confirm);
      confirm.u16(version_major).u16(version_minor).u32(client_id_);
      replies.push_back(confirm.data());
      break;
    }
    case pakid_core_client_capability:
      // Clients announce drives and smartcards only once the user is logged on.
      replies.push_back(header(pakid_core_user_loggedon).data());
      break;
    case pakid_core_devicelist_announce: {
      auto count = reader.u32();
      for (std::uint32_t i = 0; i < count && reader.ok(); ++i) {
        auto type = reader.u32();
        auto id = reader.u32();
        auto dos_name = reader.bytes(8);
        auto data_length = reader.u32();
        reader.skip(data_length);
        if (!reader.ok()) break;
        std::string name;
        for (auto byte : dos_name) {
          if (byte == 0) break;
          name.push_back(byte >= 0x20 && byte < 0x7F ? static_cast<char>(byte) : '?');
        }
        devices.push_back({device_type_name(type), name});
        auto reply = header(pakid_core_device_reply);
        reply.u32(id).u32(0);  // STATUS_SUCCESS
        replies.push_back(reply.data());
      }
      break;
    }
    default:
      break;
  }
  return replies;
}

Pdu audio_formats_announce() {
  // MS-RDPEA 2.2.2.1 Server Audio Formats and Version PDU with one PCM format.
  WireWriter body;
  body.u32(0).u32(0).u32(0).u16(0).u16(1).u8(0).u16(6).u8(0);
  body.u16(1).u16(2).u32(44100).u32(176400).u16(4).u16(16).u16(0);
  WireWriter out;
  out.u8(0x07).u8(0).u16(static_cast<std::uint16_t>(body.size())).bytes(body.data());
  return out.data();
}

}  // namespace sdbox::desktop
