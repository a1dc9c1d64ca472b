// Fuzzes the strict BER-TLV parser: whatever it accepts must re-encode to the same bytes.
#include "sdbox/common/tlv.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdbox;
  const ByteView input(data, size);
  auto tree = tlv::parse_tree(input);
  auto objects = tlv::parse_all(input);
  // A flat parse may succeed where nested contents are malformed; never the other way round.
  if (!objects.ok() && tree.ok()) std::abort();
  if (objects) {
    Bytes rebuilt;
    for (const auto& object : *objects) tlv::append_object(rebuilt, object.tag, object.value);
    // Re-encoding uses minimal lengths, so it can only be shorter or equal.
    if (rebuilt.size() > size) std::abort();
    auto again = tlv::parse_all(rebuilt);
    if (!again || again->size() != objects->size()) std::abort();
  }
  (void)tlv::find(input, 0x53);
  return 0;
}
