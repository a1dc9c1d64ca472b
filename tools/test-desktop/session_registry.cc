#include "session_registry.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/crypto.hpp"
#include "sdbox/common/log.hpp"

#include <chrono>

namespace sdbox::desktop {

std::string_view to_string(SessionState state) {
  switch (state) {
    case SessionState::connected: return "connected";
    case SessionState::disconnected: return "disconnected";
    case SessionState::ended: return "ended";
  }
  return "unknown";
}

std::uint64_t DesktopSession::clock_ms(std::chrono::steady_clock::time_point now) const {
  auto until = state == SessionState::ended ? ended : now;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(until - started).count());
}

std::string SessionRegistry::attach(const std::string& user, std::uint64_t connection) {
  std::lock_guard lock(mutex_);
  ++version_;
  auto* session = find_live(user);
  if (session == nullptr) {
    auto created = std::make_unique<DesktopSession>();
    // Random ids, so a test cannot mistake a new session for the old one, even across restarts.
    created->id = to_hex(crypto::random_bytes(8));
    created->user = user;
    created->started = std::chrono::steady_clock::now();
    created->started_wall = std::chrono::system_clock::now();
    session = created.get();
    sessions_.push_back(std::move(created));
    log::component("session")->info("session started {}", log::Fields().add("user", user).add("session", session->id));
  } else if (session->attached_connection != 0) {
    // Like a Windows host: the newest logon takes the session, the older client is dropped.
    log::component("session")->info("session taken over {}", log::Fields()
                                                                   .add("user", user)
                                                                   .add("session", session->id)
                                                                   .add("previous_connection", session->attached_connection)
                                                                   .add("connection", connection));
  } else {
    log::component("session")->info("session reattached {}", log::Fields().add("user", user).add("session", session->id));
  }
  session->attached_connection = connection;
  session->state = SessionState::connected;
  ++session->connections;
  return session->id;
}

void SessionRegistry::detach(const std::string& session_id, std::uint64_t connection) {
  std::lock_guard lock(mutex_);
  auto* session = find_by_id(session_id);
  if (session == nullptr || session->attached_connection != connection) return;
  session->attached_connection = 0;
  if (session->state == SessionState::connected) session->state = SessionState::disconnected;
  ++version_;
  log::component("session")->info("session disconnected {}", log::Fields().add("user", session->user).add("session", session->id));
}

Status SessionRegistry::logoff(const std::string& user) {
  std::lock_guard lock(mutex_);
  auto* session = find_live(user);
  if (session == nullptr) return make_error(ErrorCategory::usage, "no live session for user " + user);
  session->state = SessionState::ended;
  session->ended = std::chrono::steady_clock::now();
  session->attached_connection = 0;  // the attached connection sees this and closes
  ++version_;
  log::component("session")->info("session ended {}", log::Fields().add("user", user).add("session", session->id).add("by", "logoff"));
  return {};
}

Status SessionRegistry::disconnect(const std::string& user) {
  std::lock_guard lock(mutex_);
  auto* session = find_live(user);
  if (session == nullptr) return make_error(ErrorCategory::usage, "no live session for user " + user);
  if (session->attached_connection == 0) return make_error(ErrorCategory::usage, "no client attached for user " + user);
  session->attached_connection = 0;
  session->state = SessionState::disconnected;
  ++version_;
  return {};
}

void SessionRegistry::record_refused_logon(const std::string& user, const std::string& reason) {
  std::lock_guard lock(mutex_);
  refused_logons_.emplace_back(user, reason);
  ++version_;
}

bool SessionRegistry::still_attached(const std::string& session_id, std::uint64_t connection) const {
  std::lock_guard lock(mutex_);
  const auto* session = find_by_id(session_id);
  return session != nullptr && session->state == SessionState::connected && session->attached_connection == connection;
}

CanvasState SessionRegistry::canvas_state(const std::string& session_id) const {
  std::lock_guard lock(mutex_);
  const auto* session = find_by_id(session_id);
  if (session == nullptr) return {};
  return CanvasState{session->clock_ms(std::chrono::steady_clock::now()) / canvas_tick.count(),
                     session->inputs_received, session->last_input};
}

nlohmann::json SessionRegistry::report() const {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  auto sessions = nlohmann::json::array();
  for (const auto& session : sessions_) {
    auto channels = nlohmann::json::object();
    for (const auto& [name, channel] : session->channels) {
      channels[name] = {{"kind", channel.dynamic ? "dynamic" : "static"},
                        {"requested", channel.requested},
                        {"joined", channel.joined},
                        {"bytes_in", channel.bytes_in}};
    }
    auto devices = nlohmann::json::array();
    for (const auto& device : session->devices) devices.push_back({{"type", device.type}, {"name", device.name}});
    const auto& clip = session->clipboard;
    auto clock = session->clock_ms(now);
    sessions.push_back({
        {"user", session->user},
        {"session_id", session->id},
        {"state", to_string(session->state)},
        {"started_at", std::chrono::duration_cast<std::chrono::milliseconds>(session->started_wall.time_since_epoch()).count()},
        {"clock_ms", clock},
        {"clock_ticks", clock / canvas_tick.count()},
        {"connections", session->connections},
        {"desktop_size", session->desktop_size},
        {"frames_sent", session->frames_sent},
        {"inputs_received", session->inputs_received},
        {"last_input", {{"scancode", session->last_input.scancode}, {"key_flags", session->last_input.key_flags},
                        {"mouse_x", session->last_input.mouse_x}, {"mouse_y", session->last_input.mouse_y}}},
        {"channels", channels},
        {"clipboard", {{"text_offered", clip.text_offered}, {"offer_acknowledged", clip.offer_acknowledged},
                       {"text_requests", clip.text_requests}, {"client_format_lists", clip.client_format_lists},
                       {"client_formats", clip.client_formats}}},
        {"devices", devices},
    });
  }
  auto refused = nlohmann::json::array();
  for (const auto& [user, reason] : refused_logons_) refused.push_back({{"user", user}, {"reason", reason}});
  return {{"listening_port", listening_port_}, {"sessions", sessions}, {"refused_logons", refused}};
}

std::uint64_t SessionRegistry::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

void SessionRegistry::set_listening_port(std::uint16_t port) {
  std::lock_guard lock(mutex_);
  listening_port_ = port;
  ++version_;
}

DesktopSession* SessionRegistry::find_by_id(const std::string& session_id) {
  for (auto& session : sessions_) {
    if (session->id == session_id) return session.get();
  }
  return nullptr;
}

const DesktopSession* SessionRegistry::find_by_id(const std::string& session_id) const {
  return const_cast<SessionRegistry*>(this)->find_by_id(session_id);
}

DesktopSession* SessionRegistry::find_live(const std::string& user) {
  for (auto& session : sessions_) {
    if (session->user == user && session->state != SessionState::ended) return session.get();
  }
  return nullptr;
}

}  // namespace sdbox::desktop
