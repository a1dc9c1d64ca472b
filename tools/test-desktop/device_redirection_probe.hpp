#pragma once

#include "clipboard_offer.hpp"
#include "session_registry.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace sdbox::desktop {

/// The server side of device redirection (rdpdr, MS-RDPEFS) up to the point where a client lists
/// its drives, printers, ports and smartcards: we announce ourselves, confirm the client and say
/// the user logged on, then record every device the client announces and accept it. No I/O
/// request is ever sent: the point is to see what a client (or gateway) would have exposed.
class DeviceRedirectionProbe {
 public:
  /// Server Announce Request: what the server sends once the channel is open.
  [[nodiscard]] std::vector<Pdu> start() const;
  /// One PDU from the client; returns the replies and appends announced devices to `devices`.
  std::vector<Pdu> on_client_pdu(std::span<const std::uint8_t> pdu, std::vector<AnnouncedDevice>& devices);

 private:
  std::uint32_t client_id_ = 0x2A;
};

/// The first PDU of an audio output server (rdpsnd Server Audio Formats, PCM 44.1 kHz stereo):
/// a client that joined rdpsnd answers with its own formats, which the channel's byte count shows.
Pdu audio_formats_announce();

}  // namespace sdbox::desktop
