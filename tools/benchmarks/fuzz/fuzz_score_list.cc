// Fuzzes the benchmark's score lists (`--against FILE`): whatever parses must format back to the
// same text, and must pair with itself.
#include "error_rates.hpp"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdbox::bench;
  constexpr int kMaxScore = 1000;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto scores = parse_score_list(text, kMaxScore);
  if (!scores) return 0;
  const std::string again = format_score_list(*scores);
  const auto reparsed = parse_score_list(again, kMaxScore);
  if (!reparsed || reparsed->size() != scores->size() || format_score_list(*reparsed) != again) std::abort();
  for (const auto& s : *scores) {
    if (s.score < 0 || s.score > kMaxScore) std::abort();
  }
  const auto paired = paired_intervals_over_fingers(*scores, *scores, kMaxScore, 20, 1, 0.9);
  if (!paired || paired->eer.low != 0 || paired->eer.high != 0 || paired->fnmr_at_fmr_0_1pct.high != 0) std::abort();
  return 0;
}
