#include "tunnel/desktop_relay.hpp"

#include "sdbox/common/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>

#include <istream>
#include <optional>
#include <stdexcept>

namespace sdbox::broker {

namespace asio = boost::asio;
using Json = nlohmann::json;
using wire::Frame;
using wire::FrameType;

namespace {

auto relay_log() { return log::component("desktop"); }

/// Gateway → box: one desktop_data frame per read, at most this much (under the frame limit).
constexpr std::size_t relay_chunk = std::size_t{60} * 1024;
/// After its events end, a gateway gets this long (polls x interval) to exit before SIGKILL.
constexpr int gateway_exit_polls = 200;
constexpr std::chrono::milliseconds gateway_exit_poll{10};
/// The gateway's event lines are short; a longer one means something is wrong with it.
constexpr std::size_t max_event_line = std::size_t{64} * 1024;

/// A string field of a frame from the box, or "" when absent or not a string (never throws).
std::string text_field(const Json& body, const char* key) {
  auto found = body.find(key);
  return found != body.end() && found->is_string() ? found->get<std::string>() : std::string();
}


}  // namespace

std::shared_ptr<DesktopRelay> DesktopRelay::create(Config config) {
  return std::shared_ptr<DesktopRelay>(new DesktopRelay(std::move(config)));
}

DesktopRelay::DesktopRelay(Config config)
    : config_(std::move(config)),
      box_stream_(config_.stream->get_executor()),
      events_(config_.stream->get_executor()),
      events_done_(config_.stream->get_executor()) {
  boost::system::error_code ignored;
  box_stream_.assign(asio::local::stream_protocol(), config_.gateway.box_socket, ignored);
  events_.assign(config_.gateway.events, ignored);
  events_done_.expires_at(asio::steady_timer::time_point::max());
}

DesktopRelay::~DesktopRelay() { stop_gateway_process(); }

Json DesktopRelay::with_context(Json details) const {
  for (const auto& [key, value] : config_.context) details[key] = value;
  return details;
}

void DesktopRelay::stop_gateway_process() {
  if (gateway_stopped_) return;
  gateway_stopped_ = true;
  // SIGTERM only: the events reader reaps the process when its pipe closes.
  ::kill(config_.gateway.pid, SIGTERM);
}

bool DesktopRelay::end(const std::string& reason, const std::string& message) {
  if (box_closed_ || ending_ || gateway_stopped_) return false;
  if (end_reason_.empty()) {
    end_reason_ = reason;
    end_message_ = message;
  }
  // The box hears why before the gateway closes its RDP connection: a box whose client saw the
  // connection drop first would end the view itself, and never show the reason.
  ending_ = true;
  asio::co_spawn(config_.stream->get_executor(), tell_box_and_stop(shared_from_this()), log::coroutine_failure("desktop", "relay"));
  return true;
}

asio::awaitable<void> DesktopRelay::tell_box_and_stop(std::shared_ptr<DesktopRelay> self) {
  (void)self;
  co_await announce_end();
  stop_gateway_process();
}

asio::awaitable<void> DesktopRelay::announce_end() {
  const Json body{{"reason", end_reason_}, {"message", !end_message_.empty() ? end_message_
                                                      : end_reason_ == session_end::kTakenOver
                                                          ? "You opened this desktop on another box."
                                                      : end_reason_ == session_end::kDesktopEnded
                                                          ? "Your desktop session has ended."
                                                      : end_reason_ == session_end::kClientLeft
                                                          ? "The desktop view on this box was closed."
                                                          : "The desktop cannot be reached. Try again, or contact your IT administrator."}};
  const Frame ended{FrameType::session_ended, body};
  (void)co_await config_.writer->write(ended);
  config_.audit("desktop.ended", "ok", with_context({{"reason", end_reason_}}));
  relay_log()->info("desktop view ended by the broker {}", log::Fields()
                                                              .add("session", config_.context["session"])
                                                              .add("box", config_.context["box"])
                                                              .add("user", config_.context["user"])
                                                              .add("reason", end_reason_));
}

asio::awaitable<DesktopRelay::Result> DesktopRelay::run() {
  auto self = shared_from_this();
  asio::co_spawn(config_.stream->get_executor(), gateway_to_box(self), log::coroutine_failure("desktop", "relay"));
  asio::co_spawn(config_.stream->get_executor(), gateway_events(self), log::coroutine_failure("desktop", "relay"));
  for (;;) {
    auto frame = co_await wire::read_frame(*config_.stream);
    if (!frame) {
      box_closed_ = true;
      stop_gateway_process();
      co_return Result{Outcome::tunnel_closed, frame.error().message};
    }
    config_.frame_received();
    switch (frame->type) {
      case FrameType::desktop_data: {
        if (ending_ || box_closed_) break;  // the view is over; late bytes from the box are dropped
        auto [error, written] = co_await asio::async_write(box_stream_, asio::buffer(frame->data), asio::as_tuple(asio::use_awaitable));
        (void)written;
        if (error) stop_gateway_process();  // the gateway is gone; gateway_to_box tells the box
        break;
      }
      case FrameType::ping: {
        const Frame pong{FrameType::pong, Json::object()};
        if (!co_await config_.writer->write(pong)) {
          box_closed_ = true;
          stop_gateway_process();
          co_return Result{Outcome::tunnel_closed, "cannot answer a ping"};
        }
        break;
      }
      case FrameType::desktop_close: {
        const std::string action = text_field(frame->body, "action");
        if (ending_) {
          // The box acknowledges our session_ended (any action): the view is over.
          co_return Result{Outcome::ended_by_broker, end_reason_};
        }
        if (action != "disconnect" && action != "logoff") {
          box_closed_ = true;
          stop_gateway_process();
          co_return Result{Outcome::tunnel_closed, "desktop_close needs action disconnect or logoff"};
        }
        box_closed_ = true;
        stop_gateway_process();
        // Acknowledged, so the box's reader knows the stream is its own again.
        const Frame acknowledged{FrameType::session_ended, {{"reason", action == "logoff" ? "logged_off" : "disconnected"}}};
        if (!co_await config_.writer->write(acknowledged)) co_return Result{Outcome::tunnel_closed, "cannot acknowledge"};
        co_return Result{action == "logoff" ? Outcome::box_logoff : Outcome::box_disconnected, action};
      }
      case FrameType::bye:
        box_closed_ = true;
        stop_gateway_process();
        co_return Result{Outcome::tunnel_closed, "bye"};
      default:
        box_closed_ = true;
        stop_gateway_process();
        co_return Result{Outcome::tunnel_closed, "unexpected " + std::string(wire::to_string(frame->type)) + " during a desktop session"};
    }
  }
}

asio::awaitable<void> DesktopRelay::gateway_to_box(std::shared_ptr<DesktopRelay> self) {
  (void)self;  // keeps the relay alive while this runs
  std::vector<std::uint8_t> buffer(relay_chunk);
  for (;;) {
    auto [error, read] = co_await box_stream_.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    if (error || box_closed_ || ending_) break;  // once session_ended is on its way, nothing more is relayed
    Frame data{FrameType::desktop_data, Json::object(), Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(read))};
    if (!co_await config_.writer->write(data)) break;
  }
  boost::system::error_code ignored;
  box_stream_.close(ignored);
  if (box_closed_) co_return;
  // The gateway went away on its own side: its events say why (they end when it exits).
  if (!events_finished_) (void)co_await events_done_.async_wait(asio::as_tuple(asio::use_awaitable));
  if (box_closed_ || ending_) co_return;  // the box already knows (or left)
  if (end_reason_.empty()) end_reason_ = session_end::kGatewayFailed;
  ending_ = true;
  co_await announce_end();
}

asio::awaitable<void> DesktopRelay::gateway_events(std::shared_ptr<DesktopRelay> self) {
  (void)self;
  asio::streambuf lines(max_event_line);
  for (;;) {
    auto [error, size] = co_await asio::async_read_until(events_, lines, '\n', asio::as_tuple(asio::use_awaitable));
    if (error) break;
    std::string line(asio::buffers_begin(lines.data()), asio::buffers_begin(lines.data()) + static_cast<std::ptrdiff_t>(size));
    lines.consume(size);
    auto event = Json::parse(line, nullptr, false);
    try {
      if (event.is_discarded() || !event.is_object()) throw std::invalid_argument("not a JSON object");
      on_event(event);
    } catch (const std::exception& wrong) {
      // A field of the wrong type (value() throws): the event is dropped, the relay goes on.
      relay_log()->warn("unreadable gateway event {}", log::Fields().add("session", config_.context["session"]).add("error", wrong.what()));
    }
  }
  boost::system::error_code ignored;
  events_.close(ignored);
  // Its stdout closed: it is exiting. Reaped without blocking the broker's thread; one that
  // lingers is killed.
  asio::steady_timer pause(config_.stream->get_executor());
  std::optional<int> reaped = try_reap_gateway(config_.gateway.pid);
  for (int tries = 0; !reaped && tries < gateway_exit_polls; ++tries) {
    pause.expires_after(gateway_exit_poll);
    (void)co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    reaped = try_reap_gateway(config_.gateway.pid);
  }
  if (!reaped) {
    ::kill(config_.gateway.pid, SIGKILL);
    pause.expires_after(gateway_exit_poll);
    (void)co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    reaped = try_reap_gateway(config_.gateway.pid);
  }
  const int status = reaped.value_or(-1);
  if (status != 0 && !gateway_stopped_) {
    relay_log()->error("gateway failed {}", log::Fields().add("session", config_.context["session"]).add("status", status));
    config_.audit("desktop.gateway_failed", "failed", with_context({{"status", status}}));
  }
  events_finished_ = true;
  events_done_.cancel();
}

void DesktopRelay::on_event(const Json& event) {
  const std::string name = event.value("event", "");
  if (name == "blocked_channel") {
    ++blocked_attempts_;
    config_.audit("desktop.blocked_channel", "refused",
                  with_context({{"channel", event.value("channel", "")}, {"carries", event.value("carries", "")}}));
  } else if (name == "desktop_connected") {
    config_.audit("desktop.connected", "ok", with_context({}));
  } else if (name == "desktop_unreachable") {
    if (end_reason_.empty()) end_reason_ = session_end::kDesktopUnreachable;
    config_.audit("desktop.unreachable", "failed", with_context({{"error", event.value("reason", "")}}));
  } else if (name == "box_refused") {
    config_.audit("desktop.box_refused", "refused", with_context({{"reason", event.value("reason", "")}}));
  } else if (name == "ended") {
    const std::string reason = event.value("reason", "");
    if (end_reason_.empty() && reason.rfind("the desktop ended", 0) == 0) end_reason_ = session_end::kDesktopEnded;
    if (end_reason_.empty() && reason == "the box left") end_reason_ = session_end::kClientLeft;
    relay_log()->info("gateway ended {}", log::Fields()
                                           .add("session", config_.context["session"])
                                           .add("reason", reason)
                                           .add("bytes_to_box", event.value("bytes_to_box", 0))
                                           .add("inputs_from_box", event.value("inputs_from_box", 0)));
  }
}

}  // namespace sdbox::broker
