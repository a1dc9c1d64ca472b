#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string_view>

/// The box-broker protocol inside the TLS tunnel: versioned, length-prefixed frames whose body is
/// one JSON object in canonical form (sorted keys, no spaces), so every message has exactly one
/// encoding. A frame is an 8-byte header (version, type, two zero bytes, payload length, big
/// endian) and the payload.
namespace sdbox::wire {

inline constexpr std::uint8_t kProtocolVersion = 1;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::uint32_t kMaxPayload = 64 * 1024;
inline constexpr int kMaxNesting = 8;

enum class FrameType : std::uint8_t {
  hello = 0x01,           ///< first frame each way: who is speaking, which protocol
  ping = 0x02,            ///< keepalive
  pong = 0x03,
  login_begin = 0x10,     ///< box: the card's certificate
  projects = 0x11,        ///< broker: the projects open to this person today
  choose_project = 0x12,  ///< box: the chosen project (after PIN and finger on the card)
  challenge = 0x13,       ///< broker: a fresh challenge for the card to sign
  login_proof = 0x14,     ///< box: the card's signature over the challenge and this tunnel
  session_ready = 0x15,   ///< broker: where the project's desktop is
  login_event = 0x16,     ///< box: what the card said (wrong PIN, finger not recognised...), for the audit
  refusal = 0x20,         ///< either side: why not (a reason code and a message for people)
  bye = 0x21,             ///< orderly close
  desktop_data = 0x30,    ///< either side, after "session ready": bytes of the RDP stream between the
                          ///< box's client and its gateway; the only frame whose payload is not JSON
  desktop_close = 0x31,   ///< box: end the view: {"action":"disconnect"} (card pulled) or "logoff"
  session_ended = 0x32,   ///< broker: the view ended (taken over, logged off, desktop gone): reason, message
};

/// True for the frame types whose payload is raw bytes (Frame::data) rather than a JSON body.
[[nodiscard]] constexpr bool is_binary(FrameType type) { return type == FrameType::desktop_data; }

/// "hello", "login_begin"...; "unknown" for values outside the enum.
std::string_view to_string(FrameType type);

struct FrameHeader {
  FrameType type = FrameType::hello;
  std::uint32_t payload_size = 0;
};

struct Frame {
  FrameType type = FrameType::hello;
  nlohmann::json body = nlohmann::json::object();
  Bytes data{};  ///< the payload of binary frames (is_binary); empty otherwise
};

/// Header plus canonical JSON body (or the raw data of a binary frame). Throws (a bug) if the body
/// is not an object, or the payload is too large.
Bytes encode_frame(const Frame& frame);

/// Strict: the version we speak, a known type, zero reserved bytes, a payload within kMaxPayload.
Result<FrameHeader> decode_header(ByteView header);

/// Strict: UTF-8 JSON, an object, nested at most kMaxNesting deep, in canonical form; for a
/// binary frame, 1 to kMaxPayload bytes taken as they are.
Result<Frame> decode_body(FrameType type, ByteView payload);

/// Header and body from one buffer that holds exactly one frame.
Result<Frame> decode_frame(ByteView frame);

}  // namespace sdbox::wire
