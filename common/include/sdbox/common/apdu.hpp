#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

/// ISO/IEC 7816-4 command and response APDUs: the four cases in short and extended form,
/// command chaining, and the 61xx/6Cxx response handling a terminal does.
namespace sdbox::apdu {

inline constexpr std::size_t kShortMaxData = 255;
inline constexpr std::size_t kShortMaxNe = 256;
inline constexpr std::size_t kExtendedMaxData = 65535;
inline constexpr std::size_t kExtendedMaxNe = 65536;
inline constexpr std::uint8_t kChainingBit = 0x10;

namespace sw {
inline constexpr std::uint16_t kOk = 0x9000;
inline constexpr std::uint16_t kWrongLength = 0x6700;
inline constexpr std::uint16_t kSecurityStatusNotSatisfied = 0x6982;
inline constexpr std::uint16_t kAuthenticationBlocked = 0x6983;
inline constexpr std::uint16_t kConditionsNotSatisfied = 0x6985;
inline constexpr std::uint16_t kCommandNotAllowed = 0x6986;
inline constexpr std::uint16_t kWrongData = 0x6A80;
inline constexpr std::uint16_t kFunctionNotSupported = 0x6A81;
inline constexpr std::uint16_t kFileNotFound = 0x6A82;
inline constexpr std::uint16_t kNotEnoughMemory = 0x6A84;
inline constexpr std::uint16_t kIncorrectP1P2 = 0x6A86;
inline constexpr std::uint16_t kReferenceNotFound = 0x6A88;
inline constexpr std::uint16_t kWrongP1P2 = 0x6B00;
inline constexpr std::uint16_t kInsNotSupported = 0x6D00;
inline constexpr std::uint16_t kClaNotSupported = 0x6E00;
inline constexpr std::uint16_t kLastCommandOfChainExpected = 0x6883;
inline constexpr std::uint16_t kUnknown = 0x6F00;
}  // namespace sw

/// Short/extended encoding choice when building a command.
enum class Form { automatic, short_form, extended };

struct Command {
  std::uint8_t cla = 0x00;
  std::uint8_t ins = 0x00;
  std::uint8_t p1 = 0x00;
  std::uint8_t p2 = 0x00;
  Bytes data;
  /// Ne, the maximum response length expected (1..65536); absent for cases 1 and 3.
  std::optional<std::size_t> ne;
  /// How the command was encoded when it was parsed (short or extended); informational.
  bool extended = false;

  /// Encodes the command. `automatic` picks the short form when data and Ne fit in it.
  [[nodiscard]] Result<Bytes> encode(Form form = Form::automatic) const;

  /// Parses any of cases 1, 2S, 3S, 4S, 2E, 3E, 4E; anything else is an apdu error.
  static Result<Command> parse(ByteView raw);

  /// Splits into chained short commands (CLA | 0x10 on all but the last) of at most
  /// `max_chunk` data bytes each. Ne goes on the last one only.
  [[nodiscard]] std::vector<Command> chain(std::size_t max_chunk = kShortMaxData) const;
};

struct Response {
  Bytes data;
  std::uint16_t sw = 0;

  [[nodiscard]] std::uint8_t sw1() const { return static_cast<std::uint8_t>(sw >> 8); }
  [[nodiscard]] std::uint8_t sw2() const { return static_cast<std::uint8_t>(sw & 0xFF); }
  [[nodiscard]] bool ok() const { return sw == sw::kOk; }

  [[nodiscard]] Bytes encode() const;
  /// At least the two status bytes; the rest is data.
  static Result<Response> parse(ByteView raw);
};

/// Sends one raw APDU and returns the raw response; implemented by PC/SC and by tests.
class Transport {
 public:
  virtual ~Transport() = default;
  /// One exchange with the card: the command as bytes in, response data + SW out.
  [[nodiscard]] virtual Result<Bytes> transmit(ByteView command) = 0;
};

/// What a terminal does around one logical command: short form with chaining when the data
/// does not fit (or extended when asked), then collects 61xx continuations with GET RESPONSE
/// and repeats once with the exact Le on 6Cxx. Status words other than 61xx/6Cxx are returned
/// as they are, for the caller to interpret.
Result<Response> exchange(Transport& transport, const Command& command, Form form = Form::short_form);

/// A readable name for common status words ("wrong length", ...), for error messages.
std::string describe_status(std::uint16_t sw);

}  // namespace sdbox::apdu
