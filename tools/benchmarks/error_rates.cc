#include "error_rates.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <utility>

namespace sdbox::bench {

ScoreHistogram::ScoreHistogram(int max_score) : counts_(static_cast<std::size_t>(std::max(0, max_score)) + 1, 0.0) {}

ScoreHistogram::ScoreHistogram(int max_score, const std::vector<int>& scores) : ScoreHistogram(max_score) {
  for (int score : scores) add(score);
}

void ScoreHistogram::add(int score, double weight) {
  counts_[static_cast<std::size_t>(std::clamp(score, 0, max_score()))] += weight;
  total_ += weight;
}

void ScoreHistogram::add(const ScoreHistogram& other, double weight) {
  for (std::size_t i = 0; i < counts_.size() && i < other.counts_.size(); ++i) counts_[i] += weight * other.counts_[i];
  total_ += weight * other.total_;
}

double ScoreHistogram::share_at_or_above(int threshold) const {
  if (total_ <= 0) return 0;
  double accepted = 0;
  for (int score = std::max(0, threshold); score <= max_score(); ++score) accepted += counts_[static_cast<std::size_t>(score)];
  return accepted / total_;
}

double ScoreHistogram::share_below(int threshold) const {
  if (total_ <= 0) return 0;
  double refused = 0;
  for (int score = 0; score < std::min(threshold, max_score() + 1); ++score) refused += counts_[static_cast<std::size_t>(score)];
  return refused / total_;
}

namespace {

/// Counts at or above, and below, each threshold 0..max_score + 1, by running sums (exact: the
/// counts are whole numbers, so the order of the additions does not matter).
struct Cumulative {
  std::vector<double> at_or_above, below;
  double total;
  explicit Cumulative(const ScoreHistogram& histogram) : total(histogram.total()) {
    const int top = histogram.max_score();
    at_or_above.assign(static_cast<std::size_t>(top) + 2, 0.0);
    below.assign(static_cast<std::size_t>(top) + 2, 0.0);
    for (int t = top; t >= 0; --t) {
      at_or_above[static_cast<std::size_t>(t)] = at_or_above[static_cast<std::size_t>(t) + 1] + histogram.count(t);
    }
    for (int t = 1; t <= top + 1; ++t) below[static_cast<std::size_t>(t)] = below[static_cast<std::size_t>(t) - 1] + histogram.count(t - 1);
  }
  [[nodiscard]] double accepted(int threshold) const { return total > 0 ? at_or_above[static_cast<std::size_t>(threshold)] / total : 0; }
  [[nodiscard]] double refused(int threshold) const { return total > 0 ? below[static_cast<std::size_t>(threshold)] / total : 0; }
};

int first_threshold_within(const Cumulative& impostor, int max_score, double target_fmr) {
  for (int threshold = 0; threshold <= max_score; ++threshold) {
    if (impostor.accepted(threshold) <= target_fmr) return threshold;
  }
  return max_score + 1;
}

}  // namespace

double equal_error_rate(const ScoreHistogram& genuine, const ScoreHistogram& impostor) {
  const Cumulative g(genuine), i(impostor);
  double best_gap = 2, eer = 1;
  for (int threshold = 0; threshold <= impostor.max_score() + 1; ++threshold) {
    const double fmr = i.accepted(threshold);
    const double fnmr = g.refused(threshold);
    if (std::abs(fmr - fnmr) < best_gap) {
      best_gap = std::abs(fmr - fnmr);
      eer = (fmr + fnmr) / 2;
    }
  }
  return eer;
}

int threshold_for_fmr(const ScoreHistogram& impostor, double target_fmr) {
  return first_threshold_within(Cumulative(impostor), impostor.max_score(), target_fmr);
}

double fnmr_at_fmr(const ScoreHistogram& genuine, const ScoreHistogram& impostor, double target_fmr) {
  return Cumulative(genuine).refused(threshold_for_fmr(impostor, target_fmr));
}

namespace {

double percentile(std::vector<double>& values, double share) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(std::lround(share * static_cast<double>(values.size() - 1)));
  return values[std::min(index, values.size() - 1)];
}

}  // namespace

ErrorRateIntervals intervals_over_fingers(const std::vector<PairScore>& pairs, int max_score, int resamples,
                                          std::uint32_t seed, double coverage) {
  ErrorRateIntervals result;
  // Each finger's genuine scores and each pair of fingers' impostor scores, summed once.
  std::map<int, std::size_t> index;
  for (const auto& pair : pairs) {
    index.emplace(pair.reference_finger, 0);
    index.emplace(pair.probe_finger, 0);
  }
  std::size_t next = 0;
  for (auto& [finger, position] : index) position = next++;
  const std::size_t fingers = index.size();
  if (fingers < 2 || resamples < 1) return result;
  std::vector<ScoreHistogram> genuine(fingers, ScoreHistogram(max_score));
  std::vector<ScoreHistogram> impostor(fingers * fingers, ScoreHistogram(max_score));
  for (const auto& pair : pairs) {
    std::size_t a = index[pair.reference_finger], b = index[pair.probe_finger];
    if (a == b) {
      genuine[a].add(pair.score);
    } else {
      if (a > b) std::swap(a, b);
      impostor[a * fingers + b].add(pair.score);
    }
  }
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::size_t> draw(0, fingers - 1);
  std::vector<double> eers, fnmrs, drawn(fingers);
  for (int r = 0; r < resamples; ++r) {
    std::fill(drawn.begin(), drawn.end(), 0.0);
    for (std::size_t i = 0; i < fingers; ++i) drawn[draw(random)] += 1;
    ScoreHistogram genuine_sample(max_score), impostor_sample(max_score);
    for (std::size_t a = 0; a < fingers; ++a) {
      if (drawn[a] == 0) continue;
      genuine_sample.add(genuine[a], drawn[a]);
      for (std::size_t b = a + 1; b < fingers; ++b) {
        if (drawn[b] > 0) impostor_sample.add(impostor[a * fingers + b], drawn[a] * drawn[b]);
      }
    }
    // A draw of one finger over and over has no impostors (or a finger without pairs, no genuine
    // comparisons): it says nothing about error rates.
    if (genuine_sample.total() <= 0 || impostor_sample.total() <= 0) continue;
    eers.push_back(equal_error_rate(genuine_sample, impostor_sample));
    fnmrs.push_back(fnmr_at_fmr(genuine_sample, impostor_sample, 0.001));
  }
  if (eers.empty()) return result;
  const double tail = (1 - coverage) / 2;
  result.eer = {percentile(eers, tail), percentile(eers, 1 - tail)};
  result.fnmr_at_fmr_0_1pct = {percentile(fnmrs, tail), percentile(fnmrs, 1 - tail)};
  result.resamples = static_cast<int>(eers.size());
  return result;
}

}  // namespace sdbox::bench
