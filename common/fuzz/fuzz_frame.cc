// Fuzzes the box-broker frame decoder: whatever it accepts must re-encode to the same bytes
// (one message, one encoding), and nothing may crash or read past the input.
#include "sdbox/common/frame.hpp"

#include <algorithm>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdbox;
  const ByteView input(data, size);
  auto frame = wire::decode_frame(input);
  if (frame) {
    const Bytes again = wire::encode_frame(*frame);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  }
  if (size >= wire::kHeaderSize) {
    auto header = wire::decode_header(input.first(wire::kHeaderSize));
    if (frame && !header) std::abort();
    if (header) (void)wire::decode_body(header->type, input.subspan(wire::kHeaderSize));
  }
  return 0;
}
