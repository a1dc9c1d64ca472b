#include "sdbox/common/frame.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace sdbox::wire {

namespace {

bool known(std::uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::hello:
    case FrameType::ping:
    case FrameType::pong:
    case FrameType::login_begin:
    case FrameType::projects:
    case FrameType::choose_project:
    case FrameType::challenge:
    case FrameType::login_proof:
    case FrameType::session_ready:
    case FrameType::login_event:
    case FrameType::refusal:
    case FrameType::bye:
    case FrameType::desktop_data:
    case FrameType::desktop_close:
    case FrameType::session_ended:
      return true;
  }
  return false;
}

Error malformed(std::string message) { return make_error(ErrorCategory::tunnel, "malformed frame: " + std::move(message)); }

}  // namespace

std::string_view to_string(FrameType type) {
  switch (type) {
    case FrameType::hello: return "hello";
    case FrameType::ping: return "ping";
    case FrameType::pong: return "pong";
    case FrameType::login_begin: return "login_begin";
    case FrameType::projects: return "projects";
    case FrameType::choose_project: return "choose_project";
    case FrameType::challenge: return "challenge";
    case FrameType::login_proof: return "login_proof";
    case FrameType::session_ready: return "session_ready";
    case FrameType::login_event: return "login_event";
    case FrameType::refusal: return "refusal";
    case FrameType::bye: return "bye";
    case FrameType::desktop_data: return "desktop_data";
    case FrameType::desktop_close: return "desktop_close";
    case FrameType::session_ended: return "session_ended";
  }
  return "unknown";
}

Bytes encode_frame(const Frame& frame) {
  if (!is_binary(frame.type) && !frame.body.is_object()) throw std::logic_error("a frame body must be a JSON object");
  if (is_binary(frame.type) && frame.data.empty()) throw std::logic_error("a binary frame carries at least one byte");
  const std::string payload = is_binary(frame.type) ? std::string(frame.data.begin(), frame.data.end()) : frame.body.dump();
  if (payload.size() > kMaxPayload) throw std::logic_error("frame body over the maximum size");
  const auto size = static_cast<std::uint32_t>(payload.size());
  Bytes out;
  out.reserve(kHeaderSize + payload.size());
  for (const std::uint8_t byte : {kProtocolVersion, static_cast<std::uint8_t>(frame.type), std::uint8_t{0}, std::uint8_t{0},
                                  static_cast<std::uint8_t>(size >> 24), static_cast<std::uint8_t>(size >> 16),
                                  static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)}) {
    out.push_back(byte);
  }
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Result<FrameHeader> decode_header(ByteView header) {
  if (header.size() != kHeaderSize) return malformed("a header is " + std::to_string(kHeaderSize) + " bytes");
  if (header[0] != kProtocolVersion) {
    return malformed("protocol version " + std::to_string(header[0]) + ", this side speaks " + std::to_string(kProtocolVersion));
  }
  if (!known(header[1])) return malformed("unknown frame type " + std::to_string(header[1]));
  if (header[2] != 0 || header[3] != 0) return malformed("reserved header bytes are not zero");
  const std::uint32_t size = (std::uint32_t{header[4]} << 24) | (std::uint32_t{header[5]} << 16) |
                             (std::uint32_t{header[6]} << 8) | std::uint32_t{header[7]};
  if (size > kMaxPayload) {
    return malformed("payload of " + std::to_string(size) + " bytes, the limit is " + std::to_string(kMaxPayload));
  }
  return FrameHeader{static_cast<FrameType>(header[1]), size};
}

Result<Frame> decode_body(FrameType type, ByteView payload) {
  if (payload.size() > kMaxPayload) return malformed("payload over the maximum size");
  if (!known(static_cast<std::uint8_t>(type))) return malformed("unknown frame type");
  if (is_binary(type)) {
    if (payload.empty()) return malformed("an empty " + std::string(to_string(type)) + " frame");
    return Frame{type, nlohmann::json::object(), Bytes(payload.begin(), payload.end())};
  }
  bool too_deep = false;
  auto depth_guard = [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxNesting) too_deep = true;
    return !too_deep;
  };
  nlohmann::json body = nlohmann::json::parse(payload.begin(), payload.end(), depth_guard, /*allow_exceptions=*/false);
  if (too_deep) return malformed("JSON nested deeper than " + std::to_string(kMaxNesting));
  if (body.is_discarded()) return malformed("the body is not valid JSON");
  if (!body.is_object()) return malformed("the body is not a JSON object");
  // One message, one encoding: anything else (spaces, key order, escapes) is refused.
  std::string canonical;
  try {
    canonical = body.dump();
  } catch (const nlohmann::json::exception&) {
    return malformed("the body is not valid UTF-8");
  }
  if (canonical.size() != payload.size() || !std::equal(canonical.begin(), canonical.end(), payload.begin())) {
    return malformed("the body is not in canonical form");
  }
  return Frame{type, std::move(body)};
}

Result<Frame> decode_frame(ByteView frame) {
  if (frame.size() < kHeaderSize) return malformed("shorter than a header");
  auto header = decode_header(frame.first(kHeaderSize));
  if (!header) return header.error();
  const ByteView payload = frame.subspan(kHeaderSize);
  if (payload.size() != header->payload_size) {
    return malformed("the header announces " + std::to_string(header->payload_size) + " payload bytes, " +
                     std::to_string(payload.size()) + " came");
  }
  return decode_body(header->type, payload);
}

}  // namespace sdbox::wire
