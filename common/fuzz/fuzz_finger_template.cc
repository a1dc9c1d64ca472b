// Fuzzes what the card parses from the box: compact-card minutiae (then compared against a
// fixed reference, as VERIFY 96 does) and BIT group templates.
#include "sdbox/common/finger_match.hpp"
#include "sdbox/common/finger_template.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdbox;
  using namespace sdbox::finger;
  static const std::vector<CompactMinutia> reference = [] {
    std::vector<CompactMinutia> minutiae;
    for (std::uint8_t i = 0; i < 40; ++i) {
      minutiae.push_back({static_cast<std::uint8_t>(20 + (i * 37) % 160), static_cast<std::uint8_t>(20 + (i * 53) % 200),
                          i % 2 ? MinutiaType::ending : MinutiaType::bifurcation, static_cast<std::uint8_t>((i * 11) % 64)});
    }
    return minutiae;
  }();
  const ByteView input(data, size);
  if (auto probe = decode_compact(input)) {
    if (encode_compact(*probe).size() != size) std::abort();
    const auto result = compare(reference, *probe);
    if (result.score < 0 || result.score > kScoreMax || result.paired > static_cast<int>(probe->size())) std::abort();
    if (!(result.local >= 0 && result.local <= 1 && result.consolidated >= 0 && result.consolidated <= 1)) std::abort();
    // Degenerate probes (repeated or collinear minutiae) also serve as the reference.
    const auto itself = compare(*probe, *probe);
    if (itself.score < 0 || itself.score > kScoreMax) std::abort();
  }
  if (auto rules = parse_bit_group(input)) {
    if (parse_bit_group(encode_bit_group(*rules))->size() != rules->size()) std::abort();
  }
  return 0;
}
