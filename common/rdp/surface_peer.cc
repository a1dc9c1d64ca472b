#include "sdbox/rdp/surface_peer.hpp"

#include <freerdp/constants.h>
#include <freerdp/freerdp.h>
#include <freerdp/peer.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>

#include <algorithm>
#include <vector>

namespace sdbox::rdp {

bool configure_surface_peer(freerdp_peer* peer, const std::string& certificate_pem, const std::string& private_key_pem) {
  auto* settings = peer->settings;
  return freerdp_settings_set_string(settings, FreeRDP_CertificateContent, certificate_pem.c_str()) &&
         freerdp_settings_set_string(settings, FreeRDP_PrivateKeyContent, private_key_pem.c_str()) &&
         freerdp_settings_set_bool(settings, FreeRDP_RdpSecurity, FALSE) &&
         freerdp_settings_set_bool(settings, FreeRDP_TlsSecurity, TRUE) &&
         freerdp_settings_set_bool(settings, FreeRDP_NlaSecurity, FALSE) &&
         freerdp_settings_set_uint32(settings, FreeRDP_ColorDepth, 32) &&
         freerdp_settings_set_bool(settings, FreeRDP_RemoteFxCodec, FALSE) &&
         freerdp_settings_set_bool(settings, FreeRDP_NSCodec, FALSE) &&
         freerdp_settings_set_bool(settings, FreeRDP_SupportGraphicsPipeline, FALSE) &&
         freerdp_settings_set_bool(settings, FreeRDP_RefreshRect, TRUE) &&
         freerdp_settings_set_bool(settings, FreeRDP_SuppressOutput, TRUE) &&
         // Bulk compression (XCRUSH) cost the gateway 60 % of its CPU and saved nothing on
         // uncompressed surface bits (tools/bench-gateway).
         freerdp_settings_set_bool(settings, FreeRDP_CompressionEnabled, FALSE);
}

std::int64_t send_surface_rect(freerdp_peer* peer, std::uint32_t x, std::uint32_t y, std::uint32_t width,
                               std::uint32_t height, const RowSource& rows) {
  if (width == 0 || height == 0) return 0;
  // Each command travels in one fast-path update no larger than the client's multifragment
  // limit (FreeRDP clients: 64 KiB).
  const auto client_limit = freerdp_settings_get_uint32(peer->settings, FreeRDP_MultifragMaxRequestSize);
  const auto limit = std::min<std::uint32_t>(60000, client_limit > 2048 ? client_limit - 1024 : 1024);
  const std::uint32_t strip = std::max<std::uint32_t>(1, limit / (width * 4));
  std::vector<std::uint8_t> top_down;
  std::vector<std::uint8_t> bottom_up;
  std::int64_t sent = 0;
  for (std::uint32_t top = 0; top < height; top += strip) {
    const std::uint32_t strip_rows = std::min(strip, height - top);
    const std::size_t row_bytes = static_cast<std::size_t>(width) * 4;
    top_down.resize(row_bytes * strip_rows);
    rows(top, strip_rows, top_down);
    bottom_up.resize(top_down.size());
    for (std::uint32_t row = 0; row < strip_rows; ++row) {
      std::copy_n(top_down.begin() + static_cast<std::ptrdiff_t>(row * row_bytes), row_bytes,
                  bottom_up.begin() + static_cast<std::ptrdiff_t>((strip_rows - 1 - row) * row_bytes));
    }
    SURFACE_BITS_COMMAND command{};
    command.cmdType = CMDTYPE_SET_SURFACE_BITS;
    command.destLeft = x;
    command.destTop = y + top;
    command.destRight = x + width;
    command.destBottom = y + top + strip_rows;
    command.bmp.bpp = 32;
    command.bmp.codecID = RDP_CODEC_ID_NONE;
    command.bmp.width = static_cast<UINT16>(width);
    command.bmp.height = static_cast<UINT16>(strip_rows);
    command.bmp.bitmapDataLength = static_cast<UINT32>(bottom_up.size());
    command.bmp.bitmapData = bottom_up.data();
    if (peer->update->SurfaceBits(peer->context, &command) != TRUE) return -1;
    sent += static_cast<std::int64_t>(bottom_up.size());
  }
  return sent;
}

void mark_frame(freerdp_peer* peer, bool begin, std::uint32_t frame_id) {
  if (!freerdp_settings_get_bool(peer->settings, FreeRDP_SurfaceFrameMarkerEnabled)) return;
  SURFACE_FRAME_MARKER marker{begin ? static_cast<UINT32>(SURFACECMD_FRAMEACTION_BEGIN) : static_cast<UINT32>(SURFACECMD_FRAMEACTION_END),
                              frame_id};
  peer->update->SurfaceFrameMarker(peer->context, &marker);
}

}  // namespace sdbox::rdp
