#pragma once

#include "clipboard_offer.hpp"
#include "device_redirection_probe.hpp"
#include "session_registry.hpp"
#include "tls_identity.hpp"
#include "user_directory.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

typedef struct rdp_freerdp_peer freerdp_peer;  // NOLINT: FreeRDP's own C typedef
typedef void* HANDLE;                           // NOLINT: WinPR's

namespace sdbox::desktop {

/// What every connection shares with the server; owned by the server, outlives the connections.
struct ConnectionConfig {
  SessionRegistry* registry = nullptr;
  const UserDirectory* users = nullptr;
  const TlsIdentity* identity = nullptr;
  std::string clipboard_text;
  const std::atomic<bool>* stopping = nullptr;
};

/// One RDP client, served on its own thread from TLS handshake to disconnect: checks the
/// credentials, attaches to the user's session, draws the session's canvas, records input and
/// what happens on every virtual channel.
class RdpConnection {
 public:
  RdpConnection(ConnectionConfig config, int socket, std::uint64_t id);
  RdpConnection(const RdpConnection&) = delete;
  RdpConnection& operator=(const RdpConnection&) = delete;
  ~RdpConnection();

  /// Serves the client until it leaves, the session is ended or taken over, or the server stops.
  void run();

 private:
  friend struct RdpConnectionCallbacks;  // FreeRDP's input and update callbacks
  /// A virtual channel we opened: static ones by name, dynamic ones inside drdynvc.
  struct OpenChannel {
    std::string name;
    HANDLE handle = nullptr;
    bool dynamic = false;
    bool accepted = false;  ///< dynamic only: the client said yes to our create request
    bool refused = false;
  };

  bool set_up_peer();
  void serve();
  void tear_down();

  // FreeRDP callbacks (the peer's ContextExtra points back to us).
  static int on_post_connect(freerdp_peer* peer);
  static int on_activate(freerdp_peer* peer);
  bool post_connect();

  void open_static_channels();
  void start_channel_protocols();
  void offer_dynamic_channels();
  void poll_dynamic_offers();
  void read_channels();
  void handle_channel_pdu(const OpenChannel& channel, const std::vector<std::uint8_t>& pdu);
  void write_channel(const std::string& name, const std::vector<std::vector<std::uint8_t>>& pdus);

  void record_input(std::optional<std::uint16_t> scancode, std::uint16_t flags, std::optional<std::pair<std::uint16_t, std::uint16_t>> mouse);
  void draw_if_changed(bool full);

  ConnectionConfig config_;
  freerdp_peer* peer_ = nullptr;
  int socket_;  ///< owned by peer_ once it exists
  HANDLE channel_manager_ = nullptr;
  std::uint64_t id_;
  std::string user_;
  std::string session_id_;
  bool activated_ = false;
  bool channels_started_ = false;
  bool dynamic_offered_ = false;
  bool output_suppressed_ = false;
  bool full_redraw_wanted_ = true;
  std::optional<CanvasState> last_drawn_;
  std::chrono::steady_clock::time_point last_frame_{};
  std::uint32_t frame_id_ = 0;
  std::vector<OpenChannel> channels_;
  ClipboardOffer clipboard_;
  DeviceRedirectionProbe devices_;
};

}  // namespace sdbox::desktop
