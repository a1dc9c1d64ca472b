#pragma once
// Error rates of a verification benchmark from integer comparison scores, and how far they can be
// trusted: intervals from resampling the fingers (pairs of one finger are not independent, so
// resampling pairs would claim far more certainty than ten fingers give).

#include "sdbox/common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sdbox::bench {

/// How many comparisons gave each score 0..max_score (weights, so a resampled finger counts twice).
class ScoreHistogram {
 public:
  explicit ScoreHistogram(int max_score);
  ScoreHistogram(int max_score, const std::vector<int>& scores);

  /// Adds `weight` comparisons that scored `score` (clamped to 0..max_score).
  void add(int score, double weight = 1);
  /// Adds `weight` times every comparison of `other` (same max_score).
  void add(const ScoreHistogram& other, double weight);

  [[nodiscard]] double count(int score) const { return counts_[static_cast<std::size_t>(score)]; }
  [[nodiscard]] int max_score() const { return static_cast<int>(counts_.size()) - 1; }
  [[nodiscard]] double total() const { return total_; }
  /// The share of comparisons scoring at least `threshold` (what a threshold accepts).
  [[nodiscard]] double share_at_or_above(int threshold) const;
  /// The share of comparisons scoring below `threshold` (what a threshold refuses).
  [[nodiscard]] double share_below(int threshold) const;

 private:
  std::vector<double> counts_;
  double total_ = 0;
};

/// The rate where FMR and FNMR are closest over every threshold 0..max_score + 1 (their mean there).
double equal_error_rate(const ScoreHistogram& genuine, const ScoreHistogram& impostor);
/// The smallest threshold whose FMR does not exceed `target_fmr` (max_score + 1 if none).
int threshold_for_fmr(const ScoreHistogram& impostor, double target_fmr);
/// FNMR at `threshold_for_fmr(impostor, target_fmr)`.
double fnmr_at_fmr(const ScoreHistogram& genuine, const ScoreHistogram& impostor, double target_fmr);

/// One comparison of the benchmark, its images named as FVC names them (finger `101`, impression
/// `3`); a genuine pair when the fingers are equal.
struct NamedScore {
  int reference_finger = 0;
  int reference_impression = 0;
  int probe_finger = 0;
  int probe_impression = 0;
  int score = 0;
};

struct Interval {
  double low = 0;
  double high = 0;
};

struct ErrorRateIntervals {
  Interval eer;
  Interval fnmr_at_fmr_0_1pct;
  int resamples = 0;
};

/// Percentile intervals (`coverage`, e.g. 0.9) of the EER and of FNMR at FMR 0.1 % over
/// `resamples` sets of fingers drawn with replacement (the "subsets bootstrap"): each draw brings
/// its finger's genuine pairs, and its impostor pairs with every other finger drawn. Deterministic
/// for a given `seed`.
ErrorRateIntervals intervals_over_fingers(const std::vector<NamedScore>& pairs, int max_score, int resamples,
                                          std::uint32_t seed, double coverage);

/// A run's scores as text, one comparison per line: `101_1 101_2 173`.
std::string format_score_list(const std::vector<NamedScore>& scores);
/// Reads `format_score_list`'s text back. Refuses (naming the line) anything else: other
/// separators or fields, names that are not FFF_I, a score outside 0..max_score, a pair listed
/// twice (either way round), an image compared with itself, or no line at all.
Result<std::vector<NamedScore>> parse_score_list(std::string_view text, int max_score);

struct DifferenceIntervals {
  Interval eer;                 ///< candidate minus baseline, as fractions
  Interval fnmr_at_fmr_0_1pct;  ///< candidate minus baseline
  double eer_lower_share = 0;   ///< share of the draws where the candidate's EER is lower
  int resamples = 0;
};

/// Two runs over the same images (a baseline and a candidate change) judged under the same
/// draws of fingers, so the fingers' own spread cancels out: intervals of the differences.
/// Fails if the two runs did not compare the same pairs.
Result<DifferenceIntervals> paired_intervals_over_fingers(const std::vector<NamedScore>& baseline,
                                                          const std::vector<NamedScore>& candidate, int max_score,
                                                          int resamples, std::uint32_t seed, double coverage);

}  // namespace sdbox::bench
