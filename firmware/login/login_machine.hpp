#pragma once

#include "card/card_reader.hpp"
#include "card/piv_client.hpp"
#include "desktop/rdp_client.hpp"
#include "finger/fingerprint_sensor.hpp"
#include "login/screen.hpp"
#include "tunnel/tunnel_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdbox::firmware {

/// The box's login, as one state machine on the firmware's io_context: broker tunnel, then
/// "You may connect" -> card -> PIN -> projects -> finger -> connecting -> session ready.
/// Pulling the card at any step goes back to "You may connect". Card events, keys, captures and
/// tunnel answers all arrive as events on the one executor; nothing here blocks on a person.
class LoginMachine {
 public:
  enum class State {
    connecting,         ///< opening the tunnel
    broker_unreachable, ///< waiting to retry
    box_refused,        ///< the broker refused this box (revoked, unknown): retry later
    ready,              ///< You may connect
    pin,                ///< waiting for the PIN
    checking,           ///< the broker checks the card
    choosing,           ///< waiting for a project choice
    finger,             ///< waiting for a finger on the sensor
    connecting_session, ///< the card signs; the broker answers
    session_ready,
    desktop,            ///< the desktop is on screen (first frame arrived)
    card_problem,       ///< a message until the card is pulled
  };

  struct Settings {
    std::chrono::milliseconds retry_interval{3000};
    std::chrono::milliseconds refused_retry_interval{30000};
    double sensor_dpi = 500;
  };

  struct Config {
    boost::asio::any_io_executor executor;
    CardReader* reader = nullptr;
    FingerprintSensor* sensor = nullptr;
    TunnelClient* tunnel = nullptr;
    Screen* screen = nullptr;
    /// Opens the desktop after "session ready"; without one the box stops at "Session ready".
    RdpClient* rdp = nullptr;
    /// The desktop stream's unix socket (in a directory only the agent can enter).
    std::filesystem::path desktop_socket;
    Settings settings;
  };

  static std::unique_ptr<LoginMachine> create(Config config);
  virtual ~LoginMachine() = default;

  /// Opens the tunnel and starts watching the card reader.
  virtual void start() = 0;
  virtual void stop() = 0;
  /// One key typed on the box's keyboard ('\r' or '\n' submits, 0x7f or 0x08 erases).
  virtual void on_key(char key) = 0;
  [[nodiscard]] virtual State state() const = 0;
  [[nodiscard]] virtual const ScreenView& view() const = 0;
  /// The session the broker answered with (project, desktop), once ready.
  [[nodiscard]] virtual const nlohmann::json& session() const = 0;
};

std::string_view to_string(LoginMachine::State state);

}  // namespace sdbox::firmware
