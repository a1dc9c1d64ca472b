#pragma once

#include "store/store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sdbox::broker {

/// A box's tunnel open now (its hello exchanged).
struct LiveTunnel {
  std::string box;
  std::string site;
  std::string peer;  ///< address:port
  TimePoint opened_at;
  TimePoint last_seen;  ///< the last frame from the box (pings every keepalive interval)
};

/// A desktop view open now: a member's session shown on a box through its tunnel.
struct LiveView {
  std::int64_t session = 0;
  std::string user;
  std::string box;
  std::string site;
  std::string project;
  std::string card_serial;  ///< the card that logged in, so a suspension finds its views
  TimePoint since;
};

/// Why the broker cuts a live connection: a stable reason and the sentence the box shows.
struct Ending {
  std::string reason;
  std::string message;
};

/// Reasons the broker ends live connections on a change in the store (sent to the box, audited).
namespace enforcement {
inline constexpr const char* kCardSuspended = "card_suspended";
inline constexpr const char* kCardRevoked = "card_revoked";
inline constexpr const char* kBoxRevoked = "box_revoked";
inline constexpr const char* kUserDisabled = "user_disabled";
inline constexpr const char* kMembershipEnded = "membership_ended";
inline constexpr const char* kSessionEnded = "session_ended_by_staff";
}  // namespace enforcement

/// What is connected to the broker right now, and the means to cut it: the admin API lists it,
/// and a revocation or an ended session closes what it concerns at once.
class LiveConnections {
 public:
  virtual ~LiveConnections() = default;
  [[nodiscard]] virtual std::vector<LiveTunnel> tunnels() const = 0;
  [[nodiscard]] virtual std::vector<LiveView> views() const = 0;
  /// Ends the view of `session` (the box is told why and returns to its login screen); false
  /// when no box shows it now, or its view is already ending.
  virtual bool end_view(std::int64_t session, const Ending& why) = 0;
  /// Closes every tunnel of `box` after telling it why (a view on it ends first); how many.
  virtual std::size_t close_box(const std::string& box, const Ending& why) = 0;
};

}  // namespace sdbox::broker
