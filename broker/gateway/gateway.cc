#include "gateway/gateway.hpp"

#include "sdbox/common/log.hpp"
#include "sdbox/rdp/surface_peer.hpp"

#include <freerdp/channels/wtsvc.h>
#include <freerdp/freerdp.h>
#include <freerdp/peer.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>
#include <openssl/crypto.h>
#include <winpr/synch.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <vector>

namespace sdbox::broker {

namespace {

auto gateway_log() { return log::component("gateway"); }

/// The grid the gateway compares frames on before sending them to the box.
constexpr std::uint32_t tile_size = 64;

Gateway* self(freerdp_peer* peer) { return static_cast<Gateway*>(peer->ContextExtra); }
Gateway* self(rdpContext* context) { return self(context->peer); }
Gateway* self(rdpInput* input) { return self(input->context); }

bool same_secret(const std::string& given, const std::string& expected) {
  return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

}  // namespace

std::string_view channel_purpose(std::string_view channel) {
  if (channel == "cliprdr") return "clipboard";
  if (channel == "rdpdr") return "drives, printers, smartcards and ports";
  if (channel == "rdpsnd") return "audio output";
  if (channel == "drdynvc") return "dynamic channels (USB, microphone, camera, display control)";
  if (channel == "rail" || channel == "rail_wi" || channel == "rail_ri") return "remote applications";
  if (channel == "encomsp" || channel == "remdesk") return "remote assistance";
  return "an unknown channel";
}

// FreeRDP's C callback tables want plain functions; this struct reaches the private members.
struct GatewayCallbacks {
  static BOOL post_connect(freerdp_peer* peer) { return self(peer)->box_logged_on() ? TRUE : FALSE; }
  static BOOL activate(freerdp_peer* peer) {
    auto* gateway = self(peer);
    gateway->active_ = true;
    gateway->full_redraw_ = true;
    return TRUE;
  }
  /// Input from the box goes to the desktop; before the desktop is there it is dropped.
  template <class Send>
  static BOOL forward(rdpInput* input, Send send) {
    auto* gateway = self(input);
    ++gateway->inputs_from_box_;
    if (!gateway->desktop_) return TRUE;
    return send(*gateway->desktop_) ? TRUE : FALSE;
  }
  static BOOL keyboard(rdpInput* input, UINT16 flags, UINT16 code) {
    return forward(input, [&](rdp::Viewer& desktop) { return desktop.send_keyboard(flags, code).ok(); });
  }
  static BOOL unicode_keyboard(rdpInput* input, UINT16 flags, UINT16 code) {
    return forward(input, [&](rdp::Viewer& desktop) { return desktop.send_unicode(flags, code).ok(); });
  }
  static BOOL mouse(rdpInput* input, UINT16 flags, UINT16 x, UINT16 y) {
    return forward(input, [&](rdp::Viewer& desktop) { return desktop.send_mouse(flags, x, y).ok(); });
  }
  static BOOL extended_mouse(rdpInput* input, UINT16 flags, UINT16 x, UINT16 y) {
    return forward(input, [&](rdp::Viewer& desktop) { return desktop.send_extended_mouse(flags, x, y).ok(); });
  }
  static BOOL synchronize(rdpInput* input, UINT32 flags) {
    return forward(input, [&](rdp::Viewer& desktop) { return desktop.send_synchronize(flags).ok(); });
  }
  static BOOL refresh_rect(rdpContext* context, BYTE, const RECTANGLE_16*) {
    self(context)->full_redraw_ = true;
    return TRUE;
  }
  static BOOL suppress_output(rdpContext* context, BYTE allow, const RECTANGLE_16*) {
    auto* gateway = self(context);
    gateway->suppressed_ = allow == 0;
    if (allow != 0) gateway->full_redraw_ = true;
    return TRUE;
  }
  /// Data on a static channel: no channel is open, so it is counted and dropped here.
  static BOOL channel_data(freerdp_peer* peer, UINT16 channel_id, const BYTE*, size_t size, UINT32, size_t) {
    auto* gateway = self(peer);
    auto found = gateway->channel_names_.find(channel_id);
    gateway->blocked_bytes_[found != gateway->channel_names_.end() ? found->second : "channel " + std::to_string(channel_id)] += size;
    return TRUE;
  }
};

Gateway::Gateway(Config config) : config_(std::move(config)) {}

Result<std::unique_ptr<Gateway>> Gateway::create(Config config) {
  if (config.events == nullptr) throw std::logic_error("Gateway needs an event sink");
  std::unique_ptr<Gateway> gateway(new Gateway(std::move(config)));
  gateway->peer_ = freerdp_peer_new(gateway->config_.box_socket);
  if (gateway->peer_ == nullptr) {
    ::close(gateway->config_.box_socket);
    return make_error(ErrorCategory::io, "cannot create the RDP server for the box");
  }
  auto* peer = gateway->peer_;
  peer->ContextExtra = gateway.get();
  if (freerdp_peer_context_new(peer) != TRUE) return make_error(ErrorCategory::io, "cannot create the RDP server context");
  // TLS only (the box pins our certificate), no NLA, no legacy RDP security; uncompressed
  // surface bits, so nothing is negotiated that we would have to trust.
  const auto& tls = gateway->config_.settings;
  bool configured = rdp::configure_surface_peer(peer, tls.certificate_pem, tls.private_key_pem);
  if (!configured) return make_error(ErrorCategory::io, "cannot configure the RDP server for the box");
  peer->PostConnect = &GatewayCallbacks::post_connect;
  peer->Activate = &GatewayCallbacks::activate;
  peer->ReceiveChannelData = &GatewayCallbacks::channel_data;
  peer->input->KeyboardEvent = &GatewayCallbacks::keyboard;
  peer->input->UnicodeKeyboardEvent = &GatewayCallbacks::unicode_keyboard;
  peer->input->MouseEvent = &GatewayCallbacks::mouse;
  peer->input->ExtendedMouseEvent = &GatewayCallbacks::extended_mouse;
  peer->input->SynchronizeEvent = &GatewayCallbacks::synchronize;
  peer->update->RefreshRect = &GatewayCallbacks::refresh_rect;
  peer->update->SuppressOutput = &GatewayCallbacks::suppress_output;
  if (peer->Initialize(peer) != TRUE) return make_error(ErrorCategory::io, "cannot initialise the RDP server for the box");
  return gateway;
}

Gateway::~Gateway() {
  desktop_.reset();
  if (peer_ != nullptr) {
    if (peer_->context != nullptr) {
      peer_->Disconnect(peer_);
      freerdp_peer_context_free(peer_);
    }
    freerdp_peer_free(peer_);
  }
}

void Gateway::emit(nlohmann::json event) {
  for (const auto& [key, value] : config_.settings.context) event[key] = value;
  config_.events->emit(event);
}

bool Gateway::box_logged_on() {
  auto* settings = peer_->settings;
  const char* user = freerdp_settings_get_string(settings, FreeRDP_Username);
  const char* password = freerdp_settings_get_string(settings, FreeRDP_Password);
  if (!same_secret(user != nullptr ? user : "", config_.settings.box_user) ||
      !same_secret(password != nullptr ? password : "", config_.settings.box_password)) {
    gateway_log()->warn("box refused: not this session's credentials {}", log::Fields().add("session", config_.settings.context["session"]));
    emit({{"event", "box_refused"}, {"reason", "not this session's credentials"}});
    return false;
  }

  // Every static channel the box's client asked for is refused: none is opened, what arrives on
  // it is counted and dropped (GatewayCallbacks::channel_data).
  size_t count = 0;
  char** names = WTSGetAcceptedChannelNames(peer_, &count);
  for (size_t i = 0; names != nullptr && i < count; ++i) {
    if (names[i] == nullptr) continue;
    std::string name = names[i];
    channel_names_[WTSChannelGetId(peer_, name.c_str())] = name;
    blocked_bytes_.try_emplace(name, 0);  // reported at the end even when nothing came
    gateway_log()->warn("blocked channel {}", log::Fields()
                                             .add("session", config_.settings.context["session"])
                                             .add("box", config_.settings.context["box"])
                                             .add("user", config_.settings.context["user"])
                                             .add("project", config_.settings.context["project"])
                                             .add("channel", name)
                                             .add("carries", channel_purpose(name)));
    emit({{"event", "blocked_channel"}, {"channel", name}, {"carries", channel_purpose(name)}});
  }
  free(names);  // the array only; the names belong to FreeRDP

  auto desktop = config_.settings.desktop;
  desktop.width = freerdp_settings_get_uint32(settings, FreeRDP_DesktopWidth);
  desktop.height = freerdp_settings_get_uint32(settings, FreeRDP_DesktopHeight);
  auto connected = rdp::Viewer::connect(desktop);
  if (!connected) {
    gateway_log()->error("desktop unreachable {}", log::Fields()
                                                  .add("session", config_.settings.context["session"])
                                                  .add("desktop", desktop.host + ":" + std::to_string(desktop.port))
                                                  .add("error", connected.error().message));
    emit({{"event", "desktop_unreachable"}, {"reason", connected.error().message}});
    return false;
  }
  desktop_ = std::move(*connected);
  emit({{"event", "desktop_connected"}, {"width", desktop.width}, {"height", desktop.height}});
  return true;
}

std::string Gateway::run(void* stop_event) {
  std::string reason = "the box left";
  while (true) {
    std::array<HANDLE, 64> handles{};
    DWORD count = peer_->GetEventHandles(peer_, handles.data(), 32);
    if (count == 0) {
      reason = "no connection to the box";
      break;
    }
    if (desktop_) count += static_cast<DWORD>(desktop_->event_handles(std::span<void*>(handles.data() + count, 30)));
    handles[count++] = stop_event;
    if (WaitForMultipleObjects(count, handles.data(), FALSE, INFINITE) == WAIT_FAILED) {
      reason = "waiting failed";
      break;
    }
    if (WaitForSingleObject(stop_event, 0) == WAIT_OBJECT_0) {
      reason = "stopped by the broker";
      break;
    }
    if (peer_->CheckFileDescriptor(peer_) != TRUE) break;
    if (desktop_) {
      if (auto processed = desktop_->process(); !processed) {
        reason = "the desktop ended the connection (" + processed.error().message + ")";
        break;
      }
      send_painted();
    }
  }
  peer_->Close(peer_);
  nlohmann::json blocked = nlohmann::json::object();
  for (const auto& [name, bytes] : blocked_bytes_) blocked[name] = bytes;
  emit({{"event", "ended"},
        {"reason", reason},
        {"bytes_to_box", bytes_to_box_},
        {"inputs_from_box", inputs_from_box_},
        {"blocked_bytes", blocked}});
  gateway_log()->info("gateway ended {}", log::Fields()
                                         .add("session", config_.settings.context["session"])
                                         .add("reason", reason)
                                         .add("bytes_to_box", bytes_to_box_)
                                         .add("inputs_from_box", inputs_from_box_));
  return reason;
}

void Gateway::send_painted() {
  if (!active_ || suppressed_) return;
  auto frame = desktop_->frame();
  if (frame.pixels == nullptr) return;
  auto painted = desktop_->take_painted();
  if (full_redraw_) painted = {rdp::Rect{0, 0, frame.width, frame.height}};
  if (painted.empty()) return;
  auto box_width = freerdp_settings_get_uint32(peer_->settings, FreeRDP_DesktopWidth);
  auto box_height = freerdp_settings_get_uint32(peer_->settings, FreeRDP_DesktopHeight);
  const bool everything = full_redraw_ || shadow_width_ != frame.width || shadow_height_ != frame.height;
  if (shadow_width_ != frame.width || shadow_height_ != frame.height) {
    shadow_.assign(static_cast<std::size_t>(frame.width) * frame.height * 4, 0);
    shadow_width_ = frame.width;
    shadow_height_ = frame.height;
  }
  std::vector<rdp::Rect> changed;
  for (auto rect : painted) {
    // A desktop larger than the box (it may resize itself) is clipped to the box.
    if (rect.x >= box_width || rect.y >= box_height || rect.x >= frame.width || rect.y >= frame.height) continue;
    rect.width = std::min({rect.width, box_width - rect.x, frame.width - rect.x});
    rect.height = std::min({rect.height, box_height - rect.y, frame.height - rect.y});
    add_changed_tiles(frame, rect, everything, changed);
  }
  full_redraw_ = false;
  if (changed.empty()) return;  // repainted, but the box already shows exactly this
  rdp::mark_frame(peer_, true, frame_id_);
  for (const auto& rect : changed) {
    if (!send_rect(frame, rect)) {
      gateway_log()->warn("cannot send a frame to the box {}", log::Fields().add("session", config_.settings.context["session"]));
      return;
    }
  }
  rdp::mark_frame(peer_, false, frame_id_);
  ++frame_id_;
  if (!first_frame_sent_) {
    first_frame_sent_ = true;
    emit({{"event", "first_frame"}});
  }
}

void Gateway::add_changed_tiles(const rdp::FrameView& frame, const rdp::Rect& rect, bool everything,
                                std::vector<rdp::Rect>& changed) {
  // Desktops repaint more than they change (the test desktop redraws 128 full rows for one bit
  // cell): only tiles that differ from what the box last got are sent, the shadow keeps that.
  const std::uint32_t right = rect.x + rect.width;
  const std::uint32_t bottom = rect.y + rect.height;
  const std::size_t shadow_stride = static_cast<std::size_t>(shadow_width_) * 4;
  for (std::uint32_t tile_y = rect.y / tile_size * tile_size; tile_y < bottom; tile_y += tile_size) {
    const std::uint32_t top = std::max(tile_y, rect.y);
    const std::uint32_t rows_end = std::min(tile_y + tile_size, bottom);
    std::optional<rdp::Rect> run;  // changed tiles next to each other in this tile row, merged
    for (std::uint32_t tile_x = rect.x / tile_size * tile_size; tile_x < right; tile_x += tile_size) {
      const std::uint32_t left = std::max(tile_x, rect.x);
      const std::uint32_t columns_end = std::min(tile_x + tile_size, right);
      const std::size_t span = static_cast<std::size_t>(columns_end - left) * 4;
      bool differs = everything;
      for (std::uint32_t y = top; y < rows_end; ++y) {
        const std::uint8_t* now = frame.pixels + static_cast<std::size_t>(y) * frame.stride + static_cast<std::size_t>(left) * 4;
        std::uint8_t* sent = shadow_.data() + y * shadow_stride + static_cast<std::size_t>(left) * 4;
        if (differs || std::memcmp(now, sent, span) != 0) {
          differs = true;
          std::memcpy(sent, now, span);
        }
      }
      if (differs && run && run->x + run->width == left) {
        run->width = columns_end - run->x;
      } else if (differs) {
        if (run) changed.push_back(*run);
        run = rdp::Rect{left, top, columns_end - left, rows_end - top};
      }
    }
    if (run) changed.push_back(*run);
  }
}

bool Gateway::send_rect(const rdp::FrameView& frame, const rdp::Rect& rect) {
  auto sent = rdp::send_surface_rect(peer_, rect.x, rect.y, rect.width, rect.height,
                                     [&](std::uint32_t top, std::uint32_t rows, std::span<std::uint8_t> bgra) {
                                       const std::size_t row_bytes = static_cast<std::size_t>(rect.width) * 4;
                                       for (std::uint32_t row = 0; row < rows; ++row) {
                                         const std::uint8_t* source = frame.pixels +
                                                                      static_cast<std::size_t>(rect.y + top + row) * frame.stride +
                                                                      static_cast<std::size_t>(rect.x) * 4;
                                         std::uint8_t* target = bgra.data() + row * row_bytes;
                                         std::copy_n(source, row_bytes, target);
                                         for (std::size_t alpha = 3; alpha < row_bytes; alpha += 4) target[alpha] = 0xFF;
                                       }
                                     });
  if (sent < 0) return false;
  bytes_to_box_ += static_cast<std::uint64_t>(sent);
  return true;
}

}  // namespace sdbox::broker
