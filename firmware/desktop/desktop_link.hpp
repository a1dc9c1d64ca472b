#pragma once

#include "tunnel/tunnel_client.hpp"

#include "sdbox/common/result.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <sys/types.h>

#include <deque>
#include <filesystem>
#include <memory>
#include <string>

namespace sdbox::firmware {

/// The box's end of the desktop stream: a unix socket, private to the box's agent, that the local
/// RDP client connects to, relayed to and from the tunnel as desktop_data frames. The RDP client
/// never opens a network connection of its own; the only way out is the authenticated tunnel.
class DesktopLink : public std::enable_shared_from_this<DesktopLink> {
 public:
  struct Config {
    boost::asio::any_io_executor executor;
    TunnelClient* tunnel = nullptr;
    std::filesystem::path socket_path;  ///< created 0600 in a directory only the agent can enter
  };

  /// How the view ended.
  struct Ended {
    bool by_box = false;  ///< the box closed it (card pulled, logoff); otherwise the broker did
    std::string reason;   ///< the broker's session_ended reason (taken_over, desktop_ended...)
    std::string message;  ///< for people
  };

  /// Binds and listens on the socket.
  static Result<std::shared_ptr<DesktopLink>> create(Config config);
  ~DesktopLink();

  /// Accepts the RDP client and relays until the view ends. The only reader of the tunnel while
  /// it runs. A tunnel failure is an error.
  boost::asio::awaitable<Result<Ended>> run();
  /// The box ends the view ("disconnect" when the card is pulled, or "logoff"): the local client
  /// is cut off at once and the broker told; `run` returns once the broker has acknowledged.
  void close(const std::string& action);

 private:
  explicit DesktopLink(Config config);
  boost::asio::awaitable<void> client_to_tunnel(std::shared_ptr<DesktopLink> self);
  boost::asio::awaitable<void> tunnel_to_client(std::shared_ptr<DesktopLink> self);
  boost::asio::awaitable<void> send_close(std::shared_ptr<DesktopLink> self, std::string action);
  void cut_client();
  void remove_socket_file();

  Config config_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::local::stream_protocol::socket client_;
  bool closing_ = false;
  std::deque<Bytes> to_client_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  ino_t socket_inode_ = 0;  ///< the socket file we made (0: none, or removed)
};

}  // namespace sdbox::firmware
