#include "desktop/desktop_link.hpp"

#include "sdbox/common/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/stat.h>
#include <unistd.h>

namespace sdbox::firmware {

namespace asio = boost::asio;
using wire::Frame;
using wire::FrameType;

namespace {

auto link_log() { return log::component("desktop"); }
/// One desktop_data frame per read of the client's stream, well under the frame limit.
constexpr std::size_t relay_chunk = std::size_t{60} * 1024;
/// A client this far behind (several full 1280x800 frames) has stopped reading: it is cut off.
constexpr std::size_t max_queued_bytes = std::size_t{32} * 1024 * 1024;

}  // namespace

DesktopLink::DesktopLink(Config config)
    : config_(std::move(config)), acceptor_(config_.executor), client_(config_.executor) {}

DesktopLink::~DesktopLink() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  client_.close(ignored);
  remove_socket_file();
}

void DesktopLink::remove_socket_file() {
  // Only our own: the next view's link may already listen at the same path.
  struct stat now {};
  if (socket_inode_ != 0 && ::stat(config_.socket_path.c_str(), &now) == 0 && now.st_ino == socket_inode_) {
    ::unlink(config_.socket_path.c_str());
  }
  socket_inode_ = 0;
}

Result<std::shared_ptr<DesktopLink>> DesktopLink::create(Config config) {
  std::shared_ptr<DesktopLink> link(new DesktopLink(std::move(config)));
  std::error_code removed;
  std::filesystem::remove(link->config_.socket_path, removed);
  boost::system::error_code error;
  const asio::local::stream_protocol::endpoint endpoint(link->config_.socket_path.string());
  // Owner-only from the start: no window in which another local user could connect.
  const mode_t previous = ::umask(0077);
  link->acceptor_.open(endpoint.protocol(), error);
  if (!error) link->acceptor_.bind(endpoint, error);
  ::umask(previous);
  if (!error) link->acceptor_.listen(1, error);
  if (error) {
    return make_error(ErrorCategory::io, "cannot listen on " + link->config_.socket_path.string() + ": " + error.message());
  }
  struct stat bound {};
  if (::stat(link->config_.socket_path.c_str(), &bound) == 0) link->socket_inode_ = bound.st_ino;
  return link;
}

asio::awaitable<Result<DesktopLink::Ended>> DesktopLink::run() {
  auto self = shared_from_this();
  // The client connects in its own time; meanwhile frames may already come (none should).
  acceptor_.async_accept(client_, [self](const boost::system::error_code& error) {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);  // one client only
    self->remove_socket_file();
    if (error || self->closing_) return;
    asio::co_spawn(self->config_.executor, self->client_to_tunnel(self), asio::detached);
  });
  std::size_t bytes_to_client = 0;
  for (;;) {
    auto frame = co_await config_.tunnel->receive();
    if (!frame) {
      cut_client();
      co_return frame.error();
    }
    if (frame->type == FrameType::desktop_data) {
      if (closing_ || !client_.is_open()) continue;
      // Queued, never awaited here: a client that stops reading must not stop this loop from
      // seeing the broker's session_ended.
      bytes_to_client += frame->data.size();
      queued_bytes_ += frame->data.size();
      to_client_.push_back(std::move(frame->data));
      if (queued_bytes_ > max_queued_bytes) {
        link_log()->warn("the desktop client stopped reading; cut off {}", log::Fields().add("queued_bytes", queued_bytes_));
        cut_client();
      } else if (!writing_) {
        writing_ = true;
        asio::co_spawn(config_.executor, tunnel_to_client(shared_from_this()), asio::detached);
      }
      continue;
    }
    if (frame->type == FrameType::pong) continue;
    if (frame->type == FrameType::session_ended) {
      const bool by_box = closing_;
      cut_client();
      auto text = [&](const char* key) {
        auto found = frame->body.find(key);
        return found != frame->body.end() && found->is_string() ? found->get<std::string>() : std::string();
      };
      Ended ended{by_box, text("reason"), text("message")};
      if (!by_box) {
        // Acknowledged, so the broker knows the tunnel is back to logins.
        const Frame acknowledged{FrameType::desktop_close, {{"action", "ended"}}};
        if (auto sent = co_await config_.tunnel->send(acknowledged); !sent) co_return sent.error();
      }
      link_log()->info("desktop view ended {}", log::Fields()
                                                  .add("by", by_box ? "box" : "broker")
                                                  .add("reason", ended.reason)
                                                  .add("bytes_to_client", bytes_to_client));
      co_return ended;
    }
    cut_client();
    co_return make_error(ErrorCategory::tunnel, "unexpected " + std::string(wire::to_string(frame->type)) + " during a desktop session");
  }
}

asio::awaitable<void> DesktopLink::client_to_tunnel(std::shared_ptr<DesktopLink> self) {
  (void)self;
  std::vector<std::uint8_t> buffer(relay_chunk);
  for (;;) {
    auto [error, read] = co_await client_.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    if (error || closing_) co_return;
    const Frame data{FrameType::desktop_data, nlohmann::json::object(),
                     Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(read))};
    if (auto sent = co_await config_.tunnel->send(data); !sent) co_return;
  }
}

asio::awaitable<void> DesktopLink::tunnel_to_client(std::shared_ptr<DesktopLink> self) {
  (void)self;
  while (!to_client_.empty() && client_.is_open()) {
    Bytes data = std::move(to_client_.front());
    to_client_.pop_front();
    queued_bytes_ -= data.size();
    auto [error, written] = co_await asio::async_write(client_, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
    (void)written;
    if (error) {
      cut_client();  // the local client went away; the box decides what next
      break;
    }
  }
  writing_ = false;
}

void DesktopLink::cut_client() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  client_.shutdown(asio::socket_base::shutdown_both, ignored);
  client_.close(ignored);
  to_client_.clear();
  queued_bytes_ = 0;
}

void DesktopLink::close(const std::string& action) {
  if (closing_) return;
  closing_ = true;
  cut_client();
  asio::co_spawn(config_.executor, send_close(shared_from_this(), action), asio::detached);
}

asio::awaitable<void> DesktopLink::send_close(std::shared_ptr<DesktopLink> self, std::string action) {
  (void)self;
  const Frame close{FrameType::desktop_close, {{"action", action}}};
  (void)co_await config_.tunnel->send(close);
}

}  // namespace sdbox::firmware
