// Fuzzes command and response APDU parsing: a parsed command must encode back to the same bytes.
#include "sdbox/common/apdu.hpp"

#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdbox;
  const ByteView input(data, size);
  if (auto command = apdu::Command::parse(input)) {
    auto encoded = command->encode(command->extended ? apdu::Form::extended : apdu::Form::short_form);
    if (!encoded || encoded->size() != size || std::memcmp(encoded->data(), data, size) != 0) std::abort();
    for (const auto& part : command->chain(64)) {
      if (part.data.size() > 64) std::abort();
    }
  }
  if (auto response = apdu::Response::parse(input)) {
    if (response->encode().size() != size) std::abort();
  }
  return 0;
}
