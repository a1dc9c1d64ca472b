#pragma once

#include "gateway/gateway_launcher.hpp"

#include "sdbox/common/frame_io.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sdbox::broker {

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

/// Why the broker ended a box's view of its desktop (sent in session_ended and audited).
namespace session_end {
inline constexpr const char* kTakenOver = "taken_over";
inline constexpr const char* kDesktopEnded = "desktop_ended";
inline constexpr const char* kDesktopUnreachable = "desktop_unreachable";
inline constexpr const char* kGatewayFailed = "gateway_failed";
inline constexpr const char* kClientLeft = "client_left";  ///< the box's RDP client closed its connection
}  // namespace session_end

/// The desktop phase of one tunnel, after "session ready": the box's RDP stream (desktop_data
/// frames) relayed to and from this connection's gateway process, the gateway's events audited,
/// the box's pings answered. It ends when the box closes the view (desktop_close: card pulled or
/// logoff; the broker acknowledges with session_ended), when the broker ends it (another login of
/// the same person took over, the desktop or the gateway ended: session_ended is sent and the box
/// acknowledges with desktop_close), or when the tunnel breaks.
class DesktopRelay : public std::enable_shared_from_this<DesktopRelay> {
 public:
  using AuditFunction = std::function<void(const std::string& action, const std::string& outcome, nlohmann::json details)>;

  struct Config {
    TlsStream* stream = nullptr;
    wire::FrameWriter<TlsStream>* writer = nullptr;
    std::shared_ptr<void> owner;               ///< keeps the stream and writer alive for our coroutines
    LaunchedGateway gateway;                   ///< its descriptors belong to the relay from now on
    std::map<std::string, std::string> context;  ///< session, user, box, project
    AuditFunction audit;
    std::function<void()> frame_received;      ///< the tunnel's idle deadline starts again
  };

  enum class Outcome {
    box_disconnected,  ///< the box closed the view (card pulled); the desktop session goes on
    box_logoff,        ///< the box asked to end the desktop session
    ended_by_broker,   ///< session_ended was sent and acknowledged
    tunnel_closed,     ///< bye, a broken tunnel or a protocol error: close the tunnel
  };
  struct Result {
    Outcome outcome = Outcome::tunnel_closed;
    std::string reason;
  };

  static std::shared_ptr<DesktopRelay> create(Config config);
  ~DesktopRelay();

  /// Relays until the phase ends; the caller's coroutine is the only reader of the stream.
  boost::asio::awaitable<Result> run();
  /// Ends the view from the broker's side (the gateway is stopped, the box is told why: `message`,
  /// or the usual sentence for `reason` when empty). False when the view is already ending.
  bool end(const std::string& reason, const std::string& message = {});
  /// Blocked-channel attempts the gateway reported so far.
  [[nodiscard]] int blocked_attempts() const { return blocked_attempts_; }

 private:
  explicit DesktopRelay(Config config);
  boost::asio::awaitable<void> gateway_to_box(std::shared_ptr<DesktopRelay> self);
  boost::asio::awaitable<void> gateway_events(std::shared_ptr<DesktopRelay> self);
  void on_event(const nlohmann::json& event);
  boost::asio::awaitable<void> tell_box_and_stop(std::shared_ptr<DesktopRelay> self);
  /// session_ended with the reason (and its sentence), audited `desktop.ended`.
  boost::asio::awaitable<void> announce_end();
  void stop_gateway_process();
  nlohmann::json with_context(nlohmann::json details) const;

  Config config_;
  boost::asio::local::stream_protocol::socket box_stream_;
  boost::asio::posix::stream_descriptor events_;
  boost::asio::steady_timer events_done_;
  std::string end_reason_;       ///< set by end() or from the gateway's events
  std::string end_message_;      ///< what the box shows, when end() gave one
  bool box_closed_ = false;      ///< the box ended the view: nothing more is sent to it
  bool ending_ = false;          ///< session_ended was sent; waiting for the box's acknowledgement
  bool events_finished_ = false;
  bool gateway_stopped_ = false;
  int blocked_attempts_ = 0;
};

}  // namespace sdbox::broker
