#include "error_rates.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>

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
  [[nodiscard]] double accepted(int threshold) const { return total > 0 ? at_or_above[index(threshold)] / total : 0; }
  [[nodiscard]] double refused(int threshold) const { return total > 0 ? below[index(threshold)] / total : 0; }

 private:
  // Thresholds beyond 0..max_score + 1 accept (or refuse) what the nearest one does.
  [[nodiscard]] std::size_t index(int threshold) const {
    return static_cast<std::size_t>(std::clamp(threshold, 0, static_cast<int>(below.size()) - 1));
  }
};

int first_threshold_within(const Cumulative& impostor, int max_score, double target_fmr) {
  for (int threshold = 0; threshold <= max_score; ++threshold) {
    if (impostor.accepted(threshold) <= target_fmr) return threshold;
  }
  return max_score + 1;
}

}  // namespace

double ScoreHistogram::share_at_or_above(int threshold) const { return Cumulative(*this).accepted(threshold); }

double ScoreHistogram::share_below(int threshold) const { return Cumulative(*this).refused(threshold); }

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

struct Rates {
  double eer;
  double fnmr_at_fmr_0_1pct;
};

/// Each finger's genuine scores and each pair of fingers' impostor scores, summed once, so a
/// draw of fingers costs a few histogram additions.
class FingerTable {
 public:
  FingerTable(const std::vector<NamedScore>& pairs, int max_score) : max_score_(max_score) {
    for (const auto& pair : pairs) {
      index_.emplace(pair.reference_finger, 0);
      index_.emplace(pair.probe_finger, 0);
    }
    std::size_t next = 0;
    for (auto& entry : index_) entry.second = next++;
    const std::size_t n = index_.size();
    genuine_.assign(n, ScoreHistogram(max_score));
    impostor_.assign(n * n, ScoreHistogram(max_score));
    for (const auto& pair : pairs) {
      std::size_t a = index_.at(pair.reference_finger), b = index_.at(pair.probe_finger);
      if (a == b) {
        genuine_[a].add(pair.score);
      } else {
        if (a > b) std::swap(a, b);
        impostor_[a * n + b].add(pair.score);
      }
    }
  }

  [[nodiscard]] std::size_t fingers() const { return index_.size(); }

  /// The rates when finger i is drawn `drawn[i]` times; none if the draw holds no genuine or no
  /// impostor comparison (one finger drawn over and over says nothing).
  [[nodiscard]] std::optional<Rates> rates(const std::vector<double>& drawn) const {
    const std::size_t n = fingers();
    ScoreHistogram genuine(max_score_), impostor(max_score_);
    for (std::size_t a = 0; a < n; ++a) {
      if (drawn[a] == 0) continue;
      genuine.add(genuine_[a], drawn[a]);
      for (std::size_t b = a + 1; b < n; ++b) {
        if (drawn[b] > 0) impostor.add(impostor_[a * n + b], drawn[a] * drawn[b]);
      }
    }
    if (genuine.total() <= 0 || impostor.total() <= 0) return std::nullopt;
    return Rates{equal_error_rate(genuine, impostor), fnmr_at_fmr(genuine, impostor, 0.001)};
  }

 private:
  int max_score_;
  std::map<int, std::size_t> index_;
  std::vector<ScoreHistogram> genuine_, impostor_;
};

/// Draws as many fingers as there are, with replacement: how often each was drawn.
class FingerDraws {
 public:
  FingerDraws(std::size_t fingers, std::uint32_t seed) : random_(seed), pick_(0, fingers - 1), drawn_(fingers) {}
  const std::vector<double>& next() {
    std::fill(drawn_.begin(), drawn_.end(), 0.0);
    for (std::size_t i = 0; i < drawn_.size(); ++i) drawn_[pick_(random_)] += 1;
    return drawn_;
  }

 private:
  std::mt19937 random_;
  std::uniform_int_distribution<std::size_t> pick_;
  std::vector<double> drawn_;
};

Interval central(std::vector<double>& values, double coverage) {
  const double tail = (1 - coverage) / 2;
  return {percentile(values, tail), percentile(values, 1 - tail)};
}

}  // namespace

ErrorRateIntervals intervals_over_fingers(const std::vector<NamedScore>& pairs, int max_score, int resamples,
                                          std::uint32_t seed, double coverage) {
  ErrorRateIntervals result;
  const FingerTable table(pairs, max_score);
  if (table.fingers() < 2 || resamples < 1) return result;
  FingerDraws draws(table.fingers(), seed);
  std::vector<double> eers, fnmrs;
  for (int r = 0; r < resamples; ++r) {
    if (const auto rates = table.rates(draws.next())) {
      eers.push_back(rates->eer);
      fnmrs.push_back(rates->fnmr_at_fmr_0_1pct);
    }
  }
  if (eers.empty()) return result;
  result.eer = central(eers, coverage);
  result.fnmr_at_fmr_0_1pct = central(fnmrs, coverage);
  result.resamples = static_cast<int>(eers.size());
  return result;
}

std::string format_score_list(const std::vector<NamedScore>& scores) {
  std::string text;
  for (const auto& s : scores) {
    text += fmt::format("{}_{} {}_{} {}\n", s.reference_finger, s.reference_impression, s.probe_finger, s.probe_impression, s.score);
  }
  return text;
}

namespace {

/// A whole field of at most six digits (no sign, no spaces).
std::optional<int> whole_number(std::string_view field) {
  if (field.empty() || field.size() > 6) return std::nullopt;
  // from_chars would take a minus sign.
  if (!std::all_of(field.begin(), field.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  int value = 0;
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (error != std::errc{} || end != field.data() + field.size()) return std::nullopt;
  return value;
}

/// `FFF_I`: a finger and an impression number.
std::optional<std::pair<int, int>> image_name(std::string_view field) {
  const auto underscore = field.find('_');
  if (underscore == std::string_view::npos) return std::nullopt;
  const auto finger = whole_number(field.substr(0, underscore));
  const auto impression = whole_number(field.substr(underscore + 1));
  if (!finger || !impression) return std::nullopt;
  return std::pair{*finger, *impression};
}

using PairKey = std::tuple<int, int, int, int>;

PairKey key_of(const NamedScore& s) {
  const std::pair a{s.reference_finger, s.reference_impression}, b{s.probe_finger, s.probe_impression};
  const auto& [low, high] = a < b ? std::pair{a, b} : std::pair{b, a};
  return {low.first, low.second, high.first, high.second};
}

}  // namespace

Result<std::vector<NamedScore>> parse_score_list(std::string_view text, int max_score) {
  std::vector<NamedScore> scores;
  std::set<PairKey> seen;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    auto refuse = [&](std::string_view why) {
      return make_error(ErrorCategory::usage, fmt::format("score list line {}: {} (expected `FFF_I FFF_I score`)", line_number, why));
    };
    const auto first = line.find(' ');
    const auto second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
      return refuse("not three fields separated by single spaces");
    }
    const auto reference = image_name(line.substr(0, first));
    const auto probe = image_name(line.substr(first + 1, second - first - 1));
    const auto score = whole_number(line.substr(second + 1));
    if (!reference || !probe) return refuse("an image name is not FFF_I");
    if (!score || *score > max_score) return refuse(fmt::format("the score is not a whole number 0..{}", max_score));
    if (*reference == *probe) return refuse("an image compared with itself");
    const NamedScore entry{reference->first, reference->second, probe->first, probe->second, *score};
    if (!seen.insert(key_of(entry)).second) return refuse("this pair is listed already");
    scores.push_back(entry);
  }
  if (scores.empty()) return make_error(ErrorCategory::usage, "score list: no comparisons");
  return scores;
}

Result<DifferenceIntervals> paired_intervals_over_fingers(const std::vector<NamedScore>& baseline,
                                                          const std::vector<NamedScore>& candidate, int max_score,
                                                          int resamples, std::uint32_t seed, double coverage) {
  std::map<PairKey, int> baseline_scores;
  for (const auto& s : baseline) baseline_scores[key_of(s)] = s.score;
  // The candidate's pairs with the baseline's scores.
  std::vector<NamedScore> before;
  for (const auto& s : candidate) {
    const auto found = baseline_scores.find(key_of(s));
    if (found == baseline_scores.end()) {
      return make_error(ErrorCategory::usage, fmt::format("the baseline has no score for {}_{} ~ {}_{}: not a run over the same images",
                                                          s.reference_finger, s.reference_impression, s.probe_finger,
                                                          s.probe_impression));
    }
    before.push_back(s);
    before.back().score = found->second;
  }
  if (before.size() != baseline_scores.size()) {
    return make_error(ErrorCategory::usage, fmt::format("the baseline has {} comparisons, this run {}: not a run over the same images",
                                                        baseline_scores.size(), before.size()));
  }
  DifferenceIntervals result;
  const FingerTable old_table(before, max_score), new_table(candidate, max_score);
  if (new_table.fingers() < 2 || resamples < 1) return result;
  FingerDraws draws(new_table.fingers(), seed);
  std::vector<double> eers, fnmrs;
  int lower = 0;
  for (int r = 0; r < resamples; ++r) {
    const auto& drawn = draws.next();
    const auto was = old_table.rates(drawn);
    const auto is = new_table.rates(drawn);
    if (!was || !is) continue;
    eers.push_back(is->eer - was->eer);
    fnmrs.push_back(is->fnmr_at_fmr_0_1pct - was->fnmr_at_fmr_0_1pct);
    lower += is->eer < was->eer;
  }
  if (eers.empty()) return result;
  result.eer_lower_share = static_cast<double>(lower) / static_cast<double>(eers.size());
  result.eer = central(eers, coverage);
  result.fnmr_at_fmr_0_1pct = central(fnmrs, coverage);
  result.resamples = static_cast<int>(eers.size());
  return result;
}

}  // namespace sdbox::bench
