#include "sdbox/common/apdu.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sdbox::apdu {

namespace {

Error malformed(std::string message) { return make_error(ErrorCategory::apdu, std::move(message)); }

std::size_t short_ne(std::uint8_t byte) { return byte == 0 ? 256 : byte; }
std::size_t extended_ne(std::uint8_t high, std::uint8_t low) {
  const std::size_t value = (std::size_t{high} << 8) | low;
  return value == 0 ? 65536 : value;
}

// Safety bound on how much a card may hand back through 61xx continuations.
constexpr std::size_t kMaxCollectedResponse = 1 << 20;

}  // namespace

Result<Bytes> Command::encode(Form form) const {
  if (ne && (*ne == 0 || *ne > kExtendedMaxNe)) return malformed(fmt::format("Ne {} is out of range", *ne));
  if (data.size() > kExtendedMaxData) return malformed(fmt::format("{} data bytes exceed 65535", data.size()));
  const bool fits_short = data.size() <= kShortMaxData && (!ne || *ne <= kShortMaxNe);
  if (form == Form::short_form && !fits_short) {
    return malformed(fmt::format("{} data bytes / Ne {} do not fit a short APDU", data.size(), ne.value_or(0)));
  }
  const bool use_extended = form == Form::extended || (form == Form::automatic && !fits_short);

  Bytes out{cla, ins, p1, p2};
  if (!use_extended) {
    if (!data.empty()) {
      out.push_back(static_cast<std::uint8_t>(data.size()));
      append(out, data);
    }
    if (ne) out.push_back(static_cast<std::uint8_t>(*ne == 256 ? 0 : *ne));
    return out;
  }
  if (data.empty() && !ne) return out;  // case 1 has no extended form
  out.push_back(0x00);
  if (!data.empty()) {
    out.push_back(static_cast<std::uint8_t>(data.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(data.size()));
    append(out, data);
  }
  if (ne) {
    const std::size_t encoded = *ne == 65536 ? 0 : *ne;
    out.push_back(static_cast<std::uint8_t>(encoded >> 8));
    out.push_back(static_cast<std::uint8_t>(encoded));
  }
  return out;
}

Result<Command> Command::parse(ByteView raw) {
  if (raw.size() < 4) return malformed(fmt::format("command APDU of {} bytes is shorter than its header", raw.size()));
  Command command;
  command.cla = raw[0];
  command.ins = raw[1];
  command.p1 = raw[2];
  command.p2 = raw[3];
  const ByteView body = raw.subspan(4);
  if (body.empty()) return command;  // case 1
  if (body.size() == 1) {             // case 2S
    command.ne = short_ne(body[0]);
    return command;
  }
  if (body[0] != 0) {  // short Lc
    const std::size_t lc = body[0];
    if (body.size() == 1 + lc) {
      command.data.assign(body.begin() + 1, body.end());
      return command;
    }
    if (body.size() == 2 + lc) {
      command.data.assign(body.begin() + 1, body.end() - 1);
      command.ne = short_ne(body.back());
      return command;
    }
    return malformed(fmt::format("Lc {} does not match the {} bytes that follow the header", lc, body.size() - 1));
  }
  // Extended form: a zero byte, then two bytes of Lc or Le.
  command.extended = true;
  if (body.size() < 3) return malformed("extended APDU with a truncated length field");
  if (body.size() == 3) {  // case 2E
    command.ne = extended_ne(body[1], body[2]);
    return command;
  }
  const std::size_t lc = (std::size_t{body[1]} << 8) | body[2];
  if (lc == 0) return malformed("extended APDU with Lc = 0");
  if (body.size() == 3 + lc) {
    command.data.assign(body.begin() + 3, body.end());
    return command;
  }
  if (body.size() == 5 + lc) {
    command.data.assign(body.begin() + 3, body.end() - 2);
    command.ne = extended_ne(body[body.size() - 2], body[body.size() - 1]);
    return command;
  }
  return malformed(fmt::format("extended Lc {} does not match the {} bytes that follow", lc, body.size() - 3));
}

std::vector<Command> Command::chain(std::size_t max_chunk) const {
  std::vector<Command> parts;
  if (max_chunk == 0) max_chunk = kShortMaxData;
  std::size_t offset = 0;
  do {
    const std::size_t take = std::min(max_chunk, data.size() - offset);
    Command part{cla, ins, p1, p2, Bytes(data.begin() + static_cast<std::ptrdiff_t>(offset),
                                         data.begin() + static_cast<std::ptrdiff_t>(offset + take)),
                 std::nullopt, false};
    offset += take;
    if (offset < data.size()) {
      part.cla = static_cast<std::uint8_t>(cla | kChainingBit);
    } else {
      part.ne = ne;
    }
    parts.push_back(std::move(part));
  } while (offset < data.size());
  return parts;
}

Bytes Response::encode() const {
  Bytes out = data;
  out.push_back(sw1());
  out.push_back(sw2());
  return out;
}

Result<Response> Response::parse(ByteView raw) {
  if (raw.size() < 2) return malformed(fmt::format("response APDU of {} bytes has no status word", raw.size()));
  Response response;
  response.data.assign(raw.begin(), raw.end() - 2);
  response.sw = static_cast<std::uint16_t>((raw[raw.size() - 2] << 8) | raw[raw.size() - 1]);
  return response;
}

namespace {

Result<Response> send_once(Transport& transport, const Command& command, Form form) {
  auto encoded = command.encode(form);
  if (!encoded) return encoded.error();
  auto raw = transport.transmit(*encoded);
  if (!raw) return raw.error();
  return Response::parse(*raw);
}

}  // namespace

Result<Response> exchange(Transport& transport, const Command& command, Form form) {
  std::vector<Command> parts;
  if (form == Form::short_form && command.data.size() > kShortMaxData) {
    parts = command.chain();
  } else {
    parts.push_back(command);
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    auto response = send_once(transport, parts[i], Form::short_form);
    if (!response) return response.error();
    if (!response->ok()) return response;  // the card stopped the chain; its reason is the answer
  }
  Command last = parts.back();
  auto response = send_once(transport, last, form);
  if (!response) return response.error();
  if (response->sw1() == 0x6C) {  // wrong Le: the card tells the exact one
    last.ne = short_ne(response->sw2());
    response = send_once(transport, last, form);
    if (!response) return response.error();
  }
  Response collected{std::move(response->data), response->sw};
  while (collected.sw1() == 0x61) {
    const Command get_response{static_cast<std::uint8_t>(command.cla & ~kChainingBit), 0xC0, 0x00, 0x00, {},
                               short_ne(collected.sw2()), false};
    auto next = send_once(transport, get_response, Form::short_form);
    if (!next) return next.error();
    append(collected.data, next->data);
    collected.sw = next->sw;
    if (collected.data.size() > kMaxCollectedResponse) return malformed("card response exceeds 1 MiB");
  }
  return collected;
}

std::string describe_status(std::uint16_t status) {
  if ((status & 0xFFF0) == 0x63C0) return fmt::format("verification failed, {} tries left", status & 0x0F);
  switch (status) {
    case sw::kOk: return "success";
    case sw::kWrongLength: return "wrong length";
    case sw::kSecurityStatusNotSatisfied: return "security status not satisfied";
    case sw::kAuthenticationBlocked: return "authentication method blocked";
    case sw::kConditionsNotSatisfied: return "conditions of use not satisfied";
    case sw::kCommandNotAllowed: return "command not allowed";
    case sw::kWrongData: return "incorrect data";
    case sw::kFunctionNotSupported: return "function not supported";
    case sw::kFileNotFound: return "data object not found";
    case sw::kNotEnoughMemory: return "not enough memory";
    case sw::kIncorrectP1P2: return "incorrect P1/P2";
    case sw::kReferenceNotFound: return "referenced data not found";
    case sw::kWrongP1P2: return "wrong P1/P2";
    case sw::kInsNotSupported: return "instruction not supported";
    case sw::kClaNotSupported: return "class not supported";
    case sw::kLastCommandOfChainExpected: return "last command of chain expected";
    default: return fmt::format("status {:04X}", status);
  }
}

}  // namespace sdbox::apdu
