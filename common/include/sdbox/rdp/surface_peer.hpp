#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

typedef struct rdp_freerdp_peer freerdp_peer;  // NOLINT: FreeRDP's own C typedef

/// The server side both our RDP servers share (the test desktop and the gateway's side towards
/// the box): TLS only and a picture sent as uncompressed surface bits.
namespace sdbox::rdp {

/// TLS security only (no legacy RDP security, no NLA: the credentials arrive in the Client Info
/// PDU and are checked in PostConnect), 32 bpp, no RemoteFX/NSCodec/GFX to negotiate, refresh
/// and suppress-output honoured, bulk compression off. False if FreeRDP refuses a setting.
bool configure_surface_peer(freerdp_peer* peer, const std::string& certificate_pem, const std::string& private_key_pem);

/// Fills `rows` rows (top-down, `width` 32-bit BGRA pixels each) starting at row `top` of the
/// rectangle being sent.
using RowSource = std::function<void(std::uint32_t top, std::uint32_t rows, std::span<std::uint8_t> bgra)>;

/// Sends the rectangle (x, y, width, height) as surface bits with codec "none", in strips of whole
/// rows that fit the client's multifragment limit (each command is one fast-path update), rows
/// bottom-up as that codec wants them. Returns the pixel bytes sent, or -1 on failure.
std::int64_t send_surface_rect(freerdp_peer* peer, std::uint32_t x, std::uint32_t y, std::uint32_t width,
                               std::uint32_t height, const RowSource& rows);

/// Brackets a frame's commands with frame markers when the client asked for them.
void mark_frame(freerdp_peer* peer, bool begin, std::uint32_t frame_id);

}  // namespace sdbox::rdp
