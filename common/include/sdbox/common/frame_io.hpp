#pragma once

#include "sdbox/common/frame.hpp"
#include "sdbox/common/result.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>

/// Frames over any Asio stream (the TLS tunnel), as coroutines. Timeouts are the caller's:
/// close the stream when a deadline passes and the pending operation ends with an error.
namespace sdbox::wire {

/// Reads exactly one frame. The header is checked before the payload is read, so an oversized
/// or unknown frame costs no memory. A closed or failed stream is a `tunnel` error.
template <class Stream>
boost::asio::awaitable<Result<Frame>> read_frame(Stream& stream) {
  using boost::asio::as_tuple;
  using boost::asio::use_awaitable;
  std::array<std::uint8_t, kHeaderSize> header{};
  auto [header_error, header_read] =
      co_await boost::asio::async_read(stream, boost::asio::buffer(header), as_tuple(use_awaitable));
  if (header_error) {
    co_return make_error(ErrorCategory::tunnel, "the tunnel closed: " + header_error.message(), header_error.value());
  }
  auto decoded = decode_header(header);
  if (!decoded) co_return decoded.error();
  Bytes payload(decoded->payload_size);
  auto [payload_error, payload_read] =
      co_await boost::asio::async_read(stream, boost::asio::buffer(payload), as_tuple(use_awaitable));
  if (payload_error) {
    co_return make_error(ErrorCategory::tunnel, "the tunnel closed inside a frame: " + payload_error.message(),
                         payload_error.value());
  }
  co_return decode_body(decoded->type, payload);
}

template <class Stream>
boost::asio::awaitable<Status> write_frame(Stream& stream, const Frame& frame) {
  const Bytes encoded = encode_frame(frame);
  auto [error, written] = co_await boost::asio::async_write(stream, boost::asio::buffer(encoded),
                                                            boost::asio::as_tuple(boost::asio::use_awaitable));
  if (error) co_return make_error(ErrorCategory::tunnel, "sending a frame: " + error.message(), error.value());
  co_return Status{};
}

/// Writes frames on a stream that several coroutines of one executor write to (replies, relayed
/// desktop data, keepalives): one frame at a time, each whole. A caller waits for its turn and
/// then for its own frame to be written, which also throttles a fast producer to the stream.
template <class Stream>
class FrameWriter {
 public:
  explicit FrameWriter(Stream& stream) : stream_(stream), turn_(stream.get_executor()) {
    turn_.expires_at(boost::asio::steady_timer::time_point::max());
  }

  boost::asio::awaitable<Status> write(const Frame& frame) {
    while (busy_) {
      // Woken (cancelled) when the frame being written is done; then check again.
      (void)co_await turn_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    busy_ = true;
    auto sent = co_await write_frame(stream_, frame);
    busy_ = false;
    turn_.cancel();
    co_return sent;
  }

 private:
  Stream& stream_;
  boost::asio::steady_timer turn_;
  bool busy_ = false;
};

}  // namespace sdbox::wire
