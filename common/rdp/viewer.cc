#include "sdbox/rdp/viewer.hpp"

#include "sdbox/common/crypto.hpp"

#include <freerdp/error.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/input.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>
#include <winpr/synch.h>

#include <algorithm>
#include <array>

namespace sdbox::rdp {

namespace {

/// Beyond this many separate rectangles in one batch, their bounding box is cheaper to send.
constexpr std::size_t max_painted_rects = 64;

Error viewer_error(std::string message) { return make_error(ErrorCategory::io, "RDP: " + std::move(message)); }

}  // namespace

/// FreeRDP allocates the context (ContextSize); ours starts with FreeRDP's so the callbacks can
/// find the viewer's state from the rdpContext they are given.
struct ViewerContext {
  rdpContext base;
  void* state;  // Viewer::State, private to Viewer
};

struct Viewer::State {
  ViewerConfig config;
  freerdp* instance = nullptr;
  bool connected = false;
  bool certificate_mismatch = false;
  std::vector<Rect> painted;
  std::uint64_t paints = 0;

  static State* of(rdpContext* context) { return static_cast<State*>(reinterpret_cast<ViewerContext*>(context)->state); }
  static State* of(freerdp* instance) { return of(instance->context); }

  static BOOL pre_connect(freerdp* instance) {
    auto* settings = instance->settings;
    return freerdp_settings_set_uint32(settings, FreeRDP_OsMajorType, OSMAJORTYPE_UNIX) &&
           freerdp_settings_set_uint32(settings, FreeRDP_OsMinorType, OSMINORTYPE_NATIVE_XSERVER);
    // No freerdp_client_load_addins: not one virtual channel is loaded, whatever the settings say.
  }

  static BOOL post_connect(freerdp* instance) {
    if (gdi_init(instance, PIXEL_FORMAT_BGRX32) != TRUE) return FALSE;
    instance->update->EndPaint = &State::end_paint;
    instance->update->DesktopResize = &State::desktop_resize;
    instance->update->PlaySound = [](rdpContext*, const PLAY_SOUND_UPDATE*) -> BOOL { return TRUE; };
    instance->update->SetKeyboardIndicators = [](rdpContext*, UINT16) -> BOOL { return TRUE; };
    instance->update->SetKeyboardImeStatus = [](rdpContext*, UINT16, UINT32, UINT32) -> BOOL { return TRUE; };
    return TRUE;
  }

  static void post_disconnect(freerdp* instance) { gdi_free(instance); }

  static BOOL end_paint(rdpContext* context) {
    auto* state = of(context);
    auto* window = context->gdi->primary->hdc->hwnd;
    if (window->invalid->null) return TRUE;
    for (INT32 i = 0; i < window->ninvalid; ++i) {
      const auto& region = window->cinvalid[i];
      if (region.w <= 0 || region.h <= 0) continue;
      state->painted.push_back(Rect{static_cast<std::uint32_t>(region.x), static_cast<std::uint32_t>(region.y),
                                    static_cast<std::uint32_t>(region.w), static_cast<std::uint32_t>(region.h)});
    }
    window->invalid->null = TRUE;
    window->ninvalid = 0;
    ++state->paints;
    return TRUE;
  }

  static BOOL desktop_resize(rdpContext* context) {
    auto* settings = context->settings;
    if (gdi_resize(context->gdi, freerdp_settings_get_uint32(settings, FreeRDP_DesktopWidth),
                   freerdp_settings_get_uint32(settings, FreeRDP_DesktopHeight)) != TRUE) {
      return FALSE;
    }
    auto* state = of(context);
    state->painted.push_back(
        Rect{0, 0, static_cast<std::uint32_t>(context->gdi->width), static_cast<std::uint32_t>(context->gdi->height)});
    return TRUE;
  }

  /// Called only with ExternalCertificateManagement, that is when a pin is set: 1 accepts for
  /// this connection, -1 refuses.
  static int verify_certificate(freerdp* instance, const BYTE* pem, size_t length, const char*, UINT16, DWORD) {
    auto* state = of(instance);
    auto digest = certificate_sha256_from_pem(std::string_view(reinterpret_cast<const char*>(pem), length));
    if (digest && *digest == state->config.pinned_certificate_sha256) return 1;
    state->certificate_mismatch = true;
    return -1;
  }

  [[nodiscard]] std::string last_error() const {
    if (certificate_mismatch) return "the server's certificate is not the one pinned for it";
    auto code = freerdp_get_last_error(instance->context);
    if (code == FREERDP_ERROR_SUCCESS) return "the connection ended";
    const char* text = freerdp_get_last_error_string(code);
    return text != nullptr ? text : "error " + std::to_string(code);
  }
};

std::uint32_t FrameView::rgb(std::uint32_t x, std::uint32_t y) const {
  const std::uint8_t* pixel = pixels + static_cast<std::size_t>(y) * stride + static_cast<std::size_t>(x) * 4;
  return (std::uint32_t{pixel[2]} << 16) | (std::uint32_t{pixel[1]} << 8) | pixel[0];
}

Result<std::unique_ptr<Viewer>> Viewer::connect(const ViewerConfig& config) {
  if (config.host.empty()) return make_error(ErrorCategory::usage, "RDP: no host to connect to");
  if (config.width < 200 || config.height < 200 || config.width > 8192 || config.height > 8192) {
    return make_error(ErrorCategory::usage, "RDP: a desktop of " + std::to_string(config.width) + "x" +
                                                std::to_string(config.height) + " is out of range (200..8192)");
  }
  auto state = std::make_unique<State>();
  state->config = config;
  state->instance = freerdp_new();
  if (state->instance == nullptr) return viewer_error("cannot create a FreeRDP instance");
  auto* instance = state->instance;
  instance->ContextSize = sizeof(ViewerContext);
  instance->PreConnect = &State::pre_connect;
  instance->PostConnect = &State::post_connect;
  instance->PostDisconnect = &State::post_disconnect;
  instance->VerifyX509Certificate = &State::verify_certificate;
  std::unique_ptr<Viewer> viewer(new Viewer(std::move(state)));
  if (freerdp_context_new(instance) != TRUE) return viewer_error("cannot create a FreeRDP context");
  reinterpret_cast<ViewerContext*>(instance->context)->state = viewer->state_.get();

  auto* settings = instance->settings;
  const bool pinned = !config.pinned_certificate_sha256.empty();
  bool configured =
      freerdp_settings_set_string(settings, FreeRDP_ServerHostname, config.host.c_str()) &&
      freerdp_settings_set_uint32(settings, FreeRDP_ServerPort, config.port) &&
      freerdp_settings_set_string(settings, FreeRDP_Username, config.user.c_str()) &&
      freerdp_settings_set_string(settings, FreeRDP_Password, config.password.c_str()) &&
      (config.domain.empty() || freerdp_settings_set_string(settings, FreeRDP_Domain, config.domain.c_str())) &&
      freerdp_settings_set_uint32(settings, FreeRDP_DesktopWidth, config.width) &&
      freerdp_settings_set_uint32(settings, FreeRDP_DesktopHeight, config.height) &&
      freerdp_settings_set_uint32(settings, FreeRDP_ColorDepth, 32) &&
      freerdp_settings_set_uint32(settings, FreeRDP_TcpConnectTimeout, static_cast<UINT32>(config.connect_timeout.count())) &&
      freerdp_settings_set_bool(settings, FreeRDP_SoftwareGdi, TRUE) &&
      freerdp_settings_set_bool(settings, FreeRDP_RdpSecurity, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_ExternalCertificateManagement, pinned ? TRUE : FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_IgnoreCertificate, pinned ? FALSE : TRUE) &&
      // Nothing but display and input: every redirection off, no dynamic channels, no GFX (it
      // would need drdynvc). Loading no add-in already ensures it; these keep the settings honest.
      freerdp_settings_set_bool(settings, FreeRDP_RedirectClipboard, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_DeviceRedirection, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_RedirectDrives, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_RedirectHomeDrive, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_RedirectPrinters, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_RedirectSmartCards, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_RedirectSerialPorts, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_RedirectParallelPorts, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_AudioPlayback, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_AudioCapture, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_RemoteConsoleAudio, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_SupportDynamicChannels, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_SupportGraphicsPipeline, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_SupportDisplayControl, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_AutoReconnectionEnabled, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_SurfaceCommandsEnabled, TRUE) &&
      // Bulk compression costs both ends far more CPU than it saves on a LAN or the box's link
      // (measured by tools/bench-gateway); the desktop's own codecs do better.
      freerdp_settings_set_bool(settings, FreeRDP_CompressionEnabled, FALSE) &&
      freerdp_settings_set_bool(settings, FreeRDP_FrameMarkerCommandEnabled, TRUE);
  if (!configured) return viewer_error("cannot configure the FreeRDP client");
  if (freerdp_connect(instance) != TRUE) {
    auto reason = viewer->state_->last_error();
    return make_error(ErrorCategory::io, "RDP: cannot connect to " + config.host +
                                             (config.host.front() == '/' ? "" : ":" + std::to_string(config.port)) + ": " + reason);
  }
  viewer->state_->connected = true;
  // A server may still refuse after the handshake (a wrong password is seen only in the Client
  // Info PDU): connected means the first picture arrived.
  auto deadline = std::chrono::steady_clock::now() + config.connect_timeout;
  while (viewer->state_->paints == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorCategory::io, "RDP: " + config.host + " sent no picture within " +
                                               std::to_string(config.connect_timeout.count()) + " ms");
    }
    if (auto pumped = viewer->pump(std::chrono::milliseconds(20)); !pumped) {
      return make_error(ErrorCategory::io, "RDP: the server closed the connection: " + pumped.error().message);
    }
  }
  return viewer;
}

Viewer::Viewer(std::unique_ptr<State> state) : state_(std::move(state)) {}

Viewer::~Viewer() {
  disconnect();
  if (state_->instance != nullptr) {
    if (state_->instance->context != nullptr) freerdp_context_free(state_->instance);
    freerdp_free(state_->instance);
  }
}

std::size_t Viewer::event_handles(std::span<void*> handles) {
  if (!state_->connected) return 0;
  return freerdp_get_event_handles(state_->instance->context, handles.data(), static_cast<DWORD>(handles.size()));
}

Status Viewer::process() {
  if (!state_->connected) return viewer_error("not connected");
  if (freerdp_shall_disconnect(state_->instance) || freerdp_check_event_handles(state_->instance->context) != TRUE) {
    return viewer_error(state_->last_error());
  }
  return {};
}

Status Viewer::pump(std::chrono::milliseconds timeout) {
  std::array<void*, 64> handles{};
  auto count = event_handles(handles);
  if (count == 0) return viewer_error("no connection to wait on");
  if (WaitForMultipleObjects(static_cast<DWORD>(count), handles.data(), FALSE, static_cast<DWORD>(timeout.count())) == WAIT_FAILED) {
    return viewer_error("waiting for the connection failed");
  }
  return process();
}

std::vector<Rect> Viewer::take_painted() {
  std::vector<Rect> painted;
  painted.swap(state_->painted);
  if (painted.size() > max_painted_rects) {
    Rect box = painted.front();
    auto right = box.x + box.width, bottom = box.y + box.height;
    for (const auto& rect : painted) {
      box.x = std::min(box.x, rect.x);
      box.y = std::min(box.y, rect.y);
      right = std::max(right, rect.x + rect.width);
      bottom = std::max(bottom, rect.y + rect.height);
    }
    painted = {Rect{box.x, box.y, right - box.x, bottom - box.y}};
  }
  return painted;
}

FrameView Viewer::frame() const {
  const auto* gdi = state_->connected ? state_->instance->context->gdi : nullptr;
  if (gdi == nullptr) return {};
  return FrameView{gdi->primary_buffer, static_cast<std::uint32_t>(gdi->width), static_cast<std::uint32_t>(gdi->height),
                   gdi->stride};
}

std::uint64_t Viewer::paints() const { return state_->paints; }

namespace {

Status sent(BOOL ok, const char* what) {
  if (ok == TRUE) return {};
  return viewer_error(std::string("cannot send ") + what);
}

}  // namespace

Status Viewer::send_keyboard(std::uint16_t flags, std::uint16_t scancode) {
  if (!state_->connected) return viewer_error("not connected");
  return sent(freerdp_input_send_keyboard_event(state_->instance->input, flags, scancode), "a key");
}

Status Viewer::send_unicode(std::uint16_t flags, std::uint16_t code) {
  if (!state_->connected) return viewer_error("not connected");
  return sent(freerdp_input_send_unicode_keyboard_event(state_->instance->input, flags, code), "a character");
}

Status Viewer::send_mouse(std::uint16_t flags, std::uint16_t x, std::uint16_t y) {
  if (!state_->connected) return viewer_error("not connected");
  return sent(freerdp_input_send_mouse_event(state_->instance->input, flags, x, y), "a mouse event");
}

Status Viewer::send_extended_mouse(std::uint16_t flags, std::uint16_t x, std::uint16_t y) {
  if (!state_->connected) return viewer_error("not connected");
  return sent(freerdp_input_send_extended_mouse_event(state_->instance->input, flags, x, y), "a mouse event");
}

Status Viewer::send_synchronize(std::uint32_t toggle_flags) {
  if (!state_->connected) return viewer_error("not connected");
  return sent(freerdp_input_send_synchronize_event(state_->instance->input, toggle_flags), "a synchronize event");
}

Status Viewer::suppress_output(bool suppress) {
  if (!state_->connected) return viewer_error("not connected");
  return sent(gdi_send_suppress_output(state_->instance->context->gdi, suppress ? TRUE : FALSE), "suppress output");
}

void Viewer::disconnect() {
  if (!state_->connected) return;
  state_->connected = false;
  freerdp_disconnect(state_->instance);
}

Result<std::string> certificate_sha256_from_pem(std::string_view pem) {
  auto certificate = crypto::certificate_from_pem(pem);
  if (!certificate) return certificate.error();
  return crypto::certificate_fingerprint(**certificate);
}

}  // namespace sdbox::rdp
