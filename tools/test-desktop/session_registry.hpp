#pragma once

#include "sdbox/common/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sdbox::desktop {

enum class SessionState { connected, disconnected, ended };
std::string_view to_string(SessionState state);

/// What the session knows of one virtual channel, summed over every connection it had.
struct ChannelRecord {
  bool dynamic = false;
  bool requested = false;  ///< static: named in the client's channel list; dynamic: offered by us
  bool joined = false;     ///< static: joined by the client; dynamic: the client accepted our offer
  std::uint64_t bytes_in = 0;
};

/// The last keyboard and mouse input, as the canvas shows it.
struct LastInput {
  std::uint16_t scancode = 0;
  std::uint16_t key_flags = 0;
  std::uint16_t mouse_x = 0;
  std::uint16_t mouse_y = 0;
  bool operator==(const LastInput&) const = default;
};

/// A device the client announced on rdpdr (drives, printers, smartcards, ports).
struct AnnouncedDevice {
  std::string type;
  std::string name;
};

/// What the clipboard exchange with the client showed.
struct ClipboardRecord {
  bool text_offered = false;           ///< we announced CF_UNICODETEXT
  bool offer_acknowledged = false;     ///< the client answered our format list
  std::uint32_t text_requests = 0;     ///< the client asked for our text (a paste reached us)
  std::uint32_t client_format_lists = 0;
  std::uint32_t client_formats = 0;    ///< formats in the client's last list (its own clipboard)
};

/// The part of a session the canvas draws: a pure function of these values and the size.
struct CanvasState {
  std::uint64_t ticks = 0;
  std::uint32_t inputs = 0;
  LastInput last_input;
  bool operator==(const CanvasState&) const = default;
};

/// One user's desktop session. It outlives connections: a disconnect leaves it running (its clock
/// goes on), a reconnect of the same user attaches to it again, only a logoff ends it.
struct DesktopSession {
  std::string id;
  std::string user;
  std::chrono::steady_clock::time_point started;
  std::chrono::system_clock::time_point started_wall;
  std::chrono::steady_clock::time_point ended;
  SessionState state = SessionState::disconnected;
  std::uint64_t attached_connection = 0;  ///< 0 when no client is attached
  std::uint32_t connections = 0;
  std::uint64_t frames_sent = 0;
  std::uint32_t inputs_received = 0;
  LastInput last_input;
  std::map<std::string, ChannelRecord> channels;
  ClipboardRecord clipboard;
  std::vector<AnnouncedDevice> devices;
  std::string desktop_size;

  /// Milliseconds since the session started, frozen once it ended.
  [[nodiscard]] std::uint64_t clock_ms(std::chrono::steady_clock::time_point now) const;
};

/// The period of the session clock the canvas shows (its band colour and tick counter).
inline constexpr std::chrono::milliseconds canvas_tick{250};

/// All sessions of this test desktop, shared by the connection threads, the control socket and
/// the report writer. Every access goes through the mutex; connections hold only a session id.
class SessionRegistry {
 public:
  /// A logon of `user` through connection `connection`: the user's live session (taken over from
  /// any other connection attached to it) or a new one. Returns the session id.
  std::string attach(const std::string& user, std::uint64_t connection);
  /// The connection went away; the session stays, disconnected, unless it was taken over or ended.
  void detach(const std::string& session_id, std::uint64_t connection);
  /// Ends the user's live session (a logoff): attached clients are told to go.
  Status logoff(const std::string& user);
  /// Drops the client of the user's live session but keeps the session (a server-side disconnect).
  Status disconnect(const std::string& user);
  /// A refused logon, counted in the report (never the password).
  void record_refused_logon(const std::string& user, const std::string& reason);

  /// True while `connection` is still the one attached to the session (no logoff, no takeover).
  [[nodiscard]] bool still_attached(const std::string& session_id, std::uint64_t connection) const;
  [[nodiscard]] CanvasState canvas_state(const std::string& session_id) const;

  /// Runs `change` on the session under the lock and marks the report stale.
  template <class Change>
  void update(const std::string& session_id, Change&& change) {
    std::lock_guard lock(mutex_);
    if (auto* session = find_by_id(session_id)) {
      change(*session);
      ++version_;
    }
  }

  /// Sessions, refused logons and the listening port, as the --report file holds them.
  [[nodiscard]] nlohmann::json report() const;
  /// Grows on every change; the report writer compares it with what it wrote last.
  [[nodiscard]] std::uint64_t version() const;
  void set_listening_port(std::uint16_t port);

 private:
  DesktopSession* find_by_id(const std::string& session_id);
  const DesktopSession* find_by_id(const std::string& session_id) const;
  DesktopSession* find_live(const std::string& user);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<DesktopSession>> sessions_;
  std::vector<std::pair<std::string, std::string>> refused_logons_;
  std::uint64_t version_ = 1;
  std::uint16_t listening_port_ = 0;
};

}  // namespace sdbox::desktop
