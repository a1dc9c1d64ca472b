#include "rdp_connection.hpp"

#include "desktop_canvas.hpp"

#include "sdbox/rdp/surface_peer.hpp"

#include "sdbox/common/log.hpp"

#include <freerdp/channels/channels.h>
#include <freerdp/channels/wtsvc.h>
#include <freerdp/freerdp.h>
#include <freerdp/peer.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>
#include <winpr/synch.h>
#include <winpr/wtsapi.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <mutex>

namespace sdbox::desktop {

namespace {

auto connection_log() { return log::component("rdp"); }

/// WTSOpenServer hands out session ids from an unguarded global counter and registers the
/// manager in a global table: open and close them one thread at a time.
std::mutex channel_manager_mutex;

/// Dynamic channels we offer inside drdynvc: audio input, USB, camera, display control and
/// echo. A client that accepts one of them would carry that kind of data.
constexpr std::array<const char*, 5> offered_dynamic_channels{
    "AUDIO_INPUT", "URBDRC", "RDCamera_Device_Enumerator", "Microsoft::Windows::RDS::DisplayControl", "ECHO"};

/// How long the loop waits for the socket or a channel before looking at the clock again.
constexpr DWORD loop_wait_ms = 40;
/// At most one frame per this much time, however fast input arrives.
constexpr auto min_frame_interval = std::chrono::milliseconds(40);

/// "address:port" of the client (the peer's own hostname field is filled only by FreeRDP's listener).
std::string peer_address(int socket) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getpeername(socket, reinterpret_cast<sockaddr*>(&address), &length) != 0 || address.sin_family != AF_INET) return "?";
  std::array<char, INET_ADDRSTRLEN> text{};
  ::inet_ntop(AF_INET, &address.sin_addr, text.data(), text.size());
  return std::string(text.data()) + ":" + std::to_string(ntohs(address.sin_port));
}

RdpConnection* self(freerdp_peer* peer) { return static_cast<RdpConnection*>(peer->ContextExtra); }
RdpConnection* self(rdpContext* context) { return self(context->peer); }
RdpConnection* self(rdpInput* input) { return self(input->context); }

}  // namespace

// The callbacks below need the private members but must be plain functions for FreeRDP's C
// tables; a friend-less way is a nested accessor struct with static functions.
struct RdpConnectionCallbacks {
  static BOOL keyboard(rdpInput* input, UINT16 flags, UINT16 code) {
    self(input)->record_input(code, flags, std::nullopt);
    return TRUE;
  }
  static BOOL unicode_keyboard(rdpInput* input, UINT16 flags, UINT16 code) {
    // Shown like a scancode, flagged with 0x1000 (unused by keyboard and unicode flags) so a
    // test can tell a UTF-16 code unit from a scancode.
    self(input)->record_input(code, static_cast<UINT16>(flags | 0x1000), std::nullopt);
    return TRUE;
  }
  static BOOL mouse(rdpInput* input, UINT16 flags, UINT16 x, UINT16 y) {
    self(input)->record_input(std::nullopt, flags, std::pair{x, y});
    return TRUE;
  }
  static BOOL synchronize(rdpInput*, UINT32) { return TRUE; }
  static BOOL refresh_rect(rdpContext* context, BYTE, const RECTANGLE_16*) {
    self(context)->full_redraw_wanted_ = true;
    return TRUE;
  }
  static BOOL suppress_output(rdpContext* context, BYTE allow, const RECTANGLE_16*) {
    auto* connection = self(context);
    connection->output_suppressed_ = allow == 0;
    if (allow != 0) connection->full_redraw_wanted_ = true;
    return TRUE;
  }
};

RdpConnection::RdpConnection(ConnectionConfig config, int socket, std::uint64_t id)
    : config_(std::move(config)), peer_(freerdp_peer_new(socket)), socket_(socket), id_(id), clipboard_(config_.clipboard_text) {}

RdpConnection::~RdpConnection() {
  if (peer_ != nullptr) freerdp_peer_free(peer_);
}

void RdpConnection::run() {
  if (peer_ == nullptr) {
    connection_log()->error("cannot create a FreeRDP peer {}", log::Fields().add("connection", id_));
    ::close(socket_);
    return;
  }
  if (set_up_peer()) serve();
  tear_down();
}

bool RdpConnection::set_up_peer() {
  peer_->ContextExtra = this;
  if (freerdp_peer_context_new(peer_) != TRUE) {
    connection_log()->error("cannot create a FreeRDP peer context {}", log::Fields().add("connection", id_));
    return false;
  }
  // TLS only, no NLA: the credentials arrive in the Client Info PDU, which is what lets a test
  // desktop check a plain user:password list. Uncompressed surface bits: every pixel predictable.
  bool configured = rdp::configure_surface_peer(peer_, config_.identity->certificate_pem, config_.identity->private_key_pem);
  if (!configured) {
    connection_log()->error("cannot configure the FreeRDP peer {}", log::Fields().add("connection", id_));
    return false;
  }
  peer_->PostConnect = &RdpConnection::on_post_connect;
  peer_->Activate = &RdpConnection::on_activate;
  peer_->input->KeyboardEvent = &RdpConnectionCallbacks::keyboard;
  peer_->input->UnicodeKeyboardEvent = &RdpConnectionCallbacks::unicode_keyboard;
  peer_->input->MouseEvent = &RdpConnectionCallbacks::mouse;
  peer_->input->ExtendedMouseEvent = &RdpConnectionCallbacks::mouse;
  peer_->input->SynchronizeEvent = &RdpConnectionCallbacks::synchronize;
  peer_->update->RefreshRect = &RdpConnectionCallbacks::refresh_rect;
  peer_->update->SuppressOutput = &RdpConnectionCallbacks::suppress_output;
  {
    std::lock_guard lock(channel_manager_mutex);
    channel_manager_ = WTSOpenServerA(reinterpret_cast<LPSTR>(peer_->context));
  }
  if (channel_manager_ == nullptr || channel_manager_ == INVALID_HANDLE_VALUE) {
    channel_manager_ = nullptr;
    connection_log()->error("cannot create the virtual channel manager {}", log::Fields().add("connection", id_));
    return false;
  }
  if (peer_->Initialize(peer_) != TRUE) {
    connection_log()->error("cannot initialise the FreeRDP peer {}", log::Fields().add("connection", id_));
    return false;
  }
  return true;
}

void RdpConnection::serve() {
  connection_log()->info("client connected {}", log::Fields().add("connection", id_).add("peer", peer_address(peer_->sockfd)));
  std::string reason = "client left";
  while (true) {
    std::array<HANDLE, 32> handles{};
    DWORD count = peer_->GetEventHandles(peer_, handles.data(), static_cast<DWORD>(handles.size() - 1));
    if (count == 0) {
      reason = "no transport handles";
      break;
    }
    handles[count++] = WTSVirtualChannelManagerGetEventHandle(channel_manager_);
    if (WaitForMultipleObjects(count, handles.data(), FALSE, loop_wait_ms) == WAIT_FAILED) {
      reason = "wait failed";
      break;
    }
    if (peer_->CheckFileDescriptor(peer_) != TRUE) break;  // the client left, or we refused it
    if (WTSVirtualChannelManagerCheckFileDescriptor(channel_manager_) != TRUE) {
      reason = "virtual channel failure";
      break;
    }
    if (config_.stopping->load()) {
      reason = "server stopping";
      peer_->Close(peer_);
      break;
    }
    if (session_id_.empty() || !activated_) continue;
    if (!config_.registry->still_attached(session_id_, id_)) {
      reason = "session ended or taken over";
      peer_->Close(peer_);
      break;
    }
    if (!channels_started_) start_channel_protocols();
    if (!dynamic_offered_) offer_dynamic_channels();
    poll_dynamic_offers();
    read_channels();
    draw_if_changed(full_redraw_wanted_);
  }
  connection_log()->info("client disconnected {}", log::Fields().add("connection", id_).add("user", user_).add("reason", reason));
}

void RdpConnection::tear_down() {
  if (!session_id_.empty()) config_.registry->detach(session_id_, id_);
  for (auto& channel : channels_) {
    if (channel.handle != nullptr) WTSVirtualChannelClose(channel.handle);
  }
  channels_.clear();
  if (channel_manager_ != nullptr) {
    std::lock_guard lock(channel_manager_mutex);
    WTSCloseServer(channel_manager_);
    channel_manager_ = nullptr;
  }
  if (peer_->context != nullptr) {
    peer_->Disconnect(peer_);
    freerdp_peer_context_free(peer_);
  }
}

BOOL RdpConnection::on_post_connect(freerdp_peer* peer) { return self(peer)->post_connect() ? TRUE : FALSE; }

BOOL RdpConnection::on_activate(freerdp_peer* peer) {
  auto* connection = self(peer);
  connection->activated_ = true;
  connection->full_redraw_wanted_ = true;
  if (!freerdp_settings_get_bool(peer->settings, FreeRDP_SurfaceCommandsEnabled)) {
    // Every client we test with (FreeRDP, mstsc) has them; without, the canvas stays blank.
    connection_log()->warn("client has no surface commands; nothing will be drawn {}", log::Fields().add("connection", connection->id_));
  }
  return TRUE;
}

bool RdpConnection::post_connect() {
  // With TLS security the Client Info PDU has been read by now: the credentials are in settings.
  auto* settings = peer_->settings;
  const char* user = freerdp_settings_get_string(settings, FreeRDP_Username);
  const char* password = freerdp_settings_get_string(settings, FreeRDP_Password);
  user_ = user != nullptr ? user : "";
  if (!config_.users->accepts(user_, password != nullptr ? password : "")) {
    std::string reason = user_.empty() ? "no user name" : config_.users->knows(user_) ? "wrong password" : "unknown user";
    connection_log()->warn("logon refused {}", log::Fields().add("connection", id_).add("user", user_).add("reason", reason));
    config_.registry->record_refused_logon(user_, reason);
    return false;
  }
  session_id_ = config_.registry->attach(user_, id_);
  auto width = freerdp_settings_get_uint32(settings, FreeRDP_DesktopWidth);
  auto height = freerdp_settings_get_uint32(settings, FreeRDP_DesktopHeight);
  config_.registry->update(session_id_, [&](DesktopSession& session) {
    session.desktop_size = std::to_string(width) + "x" + std::to_string(height);
  });
  connection_log()->info("logon accepted {}", log::Fields()
                                          .add("connection", id_)
                                          .add("user", user_)
                                          .add("session", session_id_)
                                          .add("size", std::to_string(width) + "x" + std::to_string(height)));
  open_static_channels();
  return true;
}

void RdpConnection::open_static_channels() {
  size_t count = 0;
  char** names = WTSGetAcceptedChannelNames(peer_, &count);
  std::vector<std::string> requested;
  for (size_t i = 0; names != nullptr && i < count; ++i) {
    if (names[i] != nullptr) requested.emplace_back(names[i]);
  }
  free(names);  // the array only; the names belong to FreeRDP
  for (const auto& name : requested) {
    bool joined = WTSIsChannelJoinedByName(peer_, name.c_str()) == TRUE;
    config_.registry->update(session_id_, [&](DesktopSession& session) {
      auto& record = session.channels[name];
      record.requested = true;
      record.joined = record.joined || joined;
    });
    // drdynvc belongs to FreeRDP's channel manager, which opens it itself after activation.
    if (!joined || name == "drdynvc") continue;
    // Opened now, before the client can send on it: data on a channel without a handle is dropped.
    HANDLE handle = WTSVirtualChannelOpen(channel_manager_, WTS_CURRENT_SESSION, const_cast<LPSTR>(name.c_str()));
    if (handle == nullptr) {
      connection_log()->warn("cannot open a joined channel {}", log::Fields().add("connection", id_).add("channel", name));
      continue;
    }
    channels_.push_back({name, handle, false, true, false});
  }
  connection_log()->info("channels {}", log::Fields().add("connection", id_).add("user", user_).add("requested", fmt::format("{}", fmt::join(requested, ","))));
}

void RdpConnection::start_channel_protocols() {
  channels_started_ = true;
  for (const auto& channel : channels_) {
    if (channel.dynamic) continue;
    if (channel.name == "cliprdr") {
      write_channel(channel.name, clipboard_.start());
    } else if (channel.name == "rdpdr") {
      write_channel(channel.name, devices_.start());
    } else if (channel.name == "rdpsnd") {
      write_channel(channel.name, {audio_formats_announce()});
    }
  }
}

void RdpConnection::offer_dynamic_channels() {
  if (WTSVirtualChannelManagerIsChannelJoined(channel_manager_, "drdynvc") != TRUE) {
    dynamic_offered_ = true;  // nothing to offer on
    return;
  }
  if (WTSVirtualChannelManagerGetDrdynvcState(channel_manager_) != DRDYNVC_STATE_READY) return;
  dynamic_offered_ = true;
  LPSTR buffer = nullptr;
  DWORD returned = 0;
  if (WTSQuerySessionInformationA(channel_manager_, WTS_CURRENT_SESSION, WTSSessionId, &buffer, &returned) != TRUE ||
      buffer == nullptr) {
    connection_log()->warn("cannot find the channel manager's session id {}", log::Fields().add("connection", id_));
    return;
  }
  auto wts_session = *reinterpret_cast<ULONG*>(buffer);
  WTSFreeMemory(buffer);
  for (const char* name : offered_dynamic_channels) {
    HANDLE handle = WTSVirtualChannelOpenEx(wts_session, const_cast<LPSTR>(name), WTS_CHANNEL_OPTION_DYNAMIC);
    config_.registry->update(session_id_, [&](DesktopSession& session) {
      auto& record = session.channels[name];
      record.dynamic = true;
      record.requested = true;
    });
    if (handle != nullptr) channels_.push_back({name, handle, true, false, false});
  }
}

void RdpConnection::poll_dynamic_offers() {
  for (auto& channel : channels_) {
    if (!channel.dynamic || channel.accepted || channel.refused) continue;
    void* buffer = nullptr;
    DWORD returned = 0;
    // FALSE once the client refused; TRUE with a BOOL telling whether it accepted yet.
    BOOL known = WTSVirtualChannelQuery(channel.handle, WTSVirtualChannelReady, &buffer, &returned);
    bool ready = buffer != nullptr && *static_cast<BOOL*>(buffer) == TRUE;
    if (buffer != nullptr) WTSFreeMemory(buffer);
    if (known != TRUE) {
      channel.refused = true;
    } else if (ready) {
      channel.accepted = true;
      config_.registry->update(session_id_, [&](DesktopSession& session) { session.channels[channel.name].joined = true; });
      connection_log()->info("client accepted a dynamic channel {}", log::Fields().add("connection", id_).add("channel", channel.name));
    }
  }
}

void RdpConnection::read_channels() {
  std::vector<std::uint8_t> pdu;
  for (const auto& channel : channels_) {
    if (channel.dynamic && !channel.accepted) continue;
    while (true) {
      ULONG size = 0;
      // A read without a buffer peeks at the size of the next message.
      if (WTSVirtualChannelRead(channel.handle, 0, nullptr, 0, &size) != TRUE || size == 0) break;
      pdu.resize(size);
      ULONG read = 0;
      if (WTSVirtualChannelRead(channel.handle, 0, reinterpret_cast<PCHAR>(pdu.data()), size, &read) != TRUE) break;
      pdu.resize(read);
      config_.registry->update(session_id_, [&](DesktopSession& session) {
        session.channels[channel.name].bytes_in += read;
        // drdynvc's own bytes are consumed inside FreeRDP: count what travels in it instead.
        if (channel.dynamic) session.channels["drdynvc"].bytes_in += read;
      });
      handle_channel_pdu(channel, pdu);
    }
  }
}

void RdpConnection::handle_channel_pdu(const OpenChannel& channel, const std::vector<std::uint8_t>& pdu) {
  if (channel.name == "cliprdr") {
    std::vector<Pdu> replies;
    config_.registry->update(session_id_, [&](DesktopSession& session) { replies = clipboard_.on_client_pdu(pdu, session.clipboard); });
    write_channel(channel.name, replies);
  } else if (channel.name == "rdpdr") {
    std::vector<Pdu> replies;
    std::vector<AnnouncedDevice> announced;
    replies = devices_.on_client_pdu(pdu, announced);
    if (!announced.empty()) {
      for (const auto& device : announced) {
        connection_log()->info("client announced a device {}", log::Fields().add("connection", id_).add("type", device.type).add("name", device.name));
      }
      config_.registry->update(session_id_, [&](DesktopSession& session) {
        session.devices.insert(session.devices.end(), announced.begin(), announced.end());
      });
    }
    write_channel(channel.name, replies);
  }
}

void RdpConnection::write_channel(const std::string& name, const std::vector<std::vector<std::uint8_t>>& pdus) {
  auto found = std::find_if(channels_.begin(), channels_.end(), [&](const OpenChannel& channel) { return channel.name == name; });
  if (found == channels_.end()) return;
  for (const auto& pdu : pdus) {
    ULONG written = 0;
    std::vector<std::uint8_t> copy(pdu);  // WTSVirtualChannelWrite takes a non-const buffer
    if (WTSVirtualChannelWrite(found->handle, reinterpret_cast<PCHAR>(copy.data()), static_cast<ULONG>(copy.size()), &written) != TRUE) {
      connection_log()->warn("cannot write to a channel {}", log::Fields().add("connection", id_).add("channel", name));
      return;
    }
  }
}

void RdpConnection::record_input(std::optional<std::uint16_t> scancode, std::uint16_t flags,
                                 std::optional<std::pair<std::uint16_t, std::uint16_t>> mouse) {
  if (session_id_.empty()) return;
  config_.registry->update(session_id_, [&](DesktopSession& session) {
    ++session.inputs_received;
    if (scancode) {
      session.last_input.scancode = *scancode;
      session.last_input.key_flags = flags;
    }
    if (mouse) {
      session.last_input.mouse_x = mouse->first;
      session.last_input.mouse_y = mouse->second;
    }
  });
}

void RdpConnection::draw_if_changed(bool full) {
  if (output_suppressed_ || !freerdp_settings_get_bool(peer_->settings, FreeRDP_SurfaceCommandsEnabled)) return;
  auto now = std::chrono::steady_clock::now();
  auto state = config_.registry->canvas_state(session_id_);
  if (!full && last_drawn_ == state) return;
  if (!full && now - last_frame_ < min_frame_interval) return;
  auto height = freerdp_settings_get_uint32(peer_->settings, FreeRDP_DesktopHeight);
  // Only the top rows change; the rest is constant and drawn on (re)activation or on request.
  std::uint32_t rows = full ? height : std::min(height, canvas::live_rows);
  const auto width = freerdp_settings_get_uint32(peer_->settings, FreeRDP_DesktopWidth);
  rdp::mark_frame(peer_, true, frame_id_);
  auto sent = rdp::send_surface_rect(peer_, 0, 0, width, rows, [&](std::uint32_t top, std::uint32_t count, std::span<std::uint8_t> bgra) {
    render_rows(state, width, top, count, bgra);
  });
  if (sent < 0) {
    connection_log()->warn("cannot send a frame {}", log::Fields().add("connection", id_));
    return;
  }
  rdp::mark_frame(peer_, false, frame_id_);
  ++frame_id_;
  last_drawn_ = state;
  last_frame_ = now;
  full_redraw_wanted_ = false;
  config_.registry->update(session_id_, [](DesktopSession& session) { ++session.frames_sent; });
}

}  // namespace sdbox::desktop
