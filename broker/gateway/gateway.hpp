#pragma once

#include "gateway/gateway_settings.hpp"

#include "sdbox/common/result.hpp"
#include "sdbox/rdp/viewer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

typedef struct rdp_freerdp_peer freerdp_peer;  // NOLINT: FreeRDP's own C typedef

namespace sdbox::broker {

/// Where the gateway reports what happened (the broker audits it). One JSON object per event,
/// always with an "event" key and the settings' context.
class GatewayEvents {
 public:
  virtual ~GatewayEvents() = default;
  virtual void emit(const nlohmann::json& event) = 0;
};

/// What each static channel a box may ask for would carry; all of them are refused.
std::string_view channel_purpose(std::string_view channel);

/// One box connection's gateway: towards the box an RDP server (libfreerdp-server2) on the given
/// socket that serves only pixels and takes only keyboard and mouse; towards the project desktop
/// an RDP client (rdp::Viewer) that loads no channel. Nothing but pixels and input crosses, so a
/// box that asks for clipboard, drives, printers, smartcards, audio or USB gets nothing, and each
/// such request is reported.
class Gateway {
 public:
  struct Config {
    GatewaySettings settings;
    GatewayEvents* events = nullptr;
    int box_socket = -1;  ///< owned by the gateway from now on
  };
  static Result<std::unique_ptr<Gateway>> create(Config config);
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  ~Gateway();

  /// Serves until the box or the desktop leaves, or `stop_event` (a WinPR handle) is set.
  /// Returns why it ended.
  std::string run(void* stop_event);

 private:
  friend struct GatewayCallbacks;
  explicit Gateway(Config config);

  bool box_logged_on();
  void send_painted();
  bool send_rect(const rdp::FrameView& frame, const rdp::Rect& rect);
  void add_changed_tiles(const rdp::FrameView& frame, const rdp::Rect& rect, bool everything, std::vector<rdp::Rect>& changed);
  void emit(nlohmann::json event);

  Config config_;
  freerdp_peer* peer_ = nullptr;
  std::unique_ptr<rdp::Viewer> desktop_;
  std::map<std::uint16_t, std::string> channel_names_;
  std::map<std::string, std::uint64_t> blocked_bytes_;
  bool active_ = false;
  bool suppressed_ = false;
  bool full_redraw_ = true;
  bool first_frame_sent_ = false;
  std::uint32_t frame_id_ = 0;
  std::uint64_t bytes_to_box_ = 0;
  std::uint64_t inputs_from_box_ = 0;
  /// What the box was last sent (BGRX, tightly packed), to send only what changed.
  std::vector<std::uint8_t> shadow_;
  std::uint32_t shadow_width_ = 0;
  std::uint32_t shadow_height_ = 0;
};

}  // namespace sdbox::broker
