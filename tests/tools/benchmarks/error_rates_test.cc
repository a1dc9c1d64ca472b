#include "error_rates.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace sdbox::bench {
namespace {

constexpr int kMax = 1000;

// The definitions written out directly, one count per threshold, to check the histogram's
// running sums against.
double share_at_or_above(const std::vector<int>& scores, int threshold) {
  return static_cast<double>(std::count_if(scores.begin(), scores.end(), [&](int s) { return s >= threshold; })) /
         static_cast<double>(scores.size());
}

double direct_eer(const std::vector<int>& genuine, const std::vector<int>& impostor) {
  double best_gap = 2, eer = 1;
  for (int threshold = 0; threshold <= kMax + 1; ++threshold) {
    const double fmr = share_at_or_above(impostor, threshold);
    const double fnmr = static_cast<double>(std::count_if(genuine.begin(), genuine.end(), [&](int s) { return s < threshold; })) /
                        static_cast<double>(genuine.size());
    if (std::abs(fmr - fnmr) < best_gap) {
      best_gap = std::abs(fmr - fnmr);
      eer = (fmr + fnmr) / 2;
    }
  }
  return eer;
}

TEST(ErrorRates, SeparatedScoresHaveNoErrors) {
  const ScoreHistogram genuine(kMax, {400, 500, 600}), impostor(kMax, {10, 20, 30});
  EXPECT_EQ(equal_error_rate(genuine, impostor), 0.0);
  EXPECT_EQ(threshold_for_fmr(impostor, 0.0), 31) << "one above the highest impostor";
  EXPECT_EQ(fnmr_at_fmr(genuine, impostor, 0.0), 0.0);
}

TEST(ErrorRates, ThresholdsFollowTheDefinitions) {
  // 1,000 impostors 0..999: FMR 0.1 % lets exactly the highest one through.
  std::vector<int> impostors(1000);
  for (int i = 0; i < 1000; ++i) impostors[static_cast<std::size_t>(i)] = i;
  const ScoreHistogram impostor(kMax, impostors);
  EXPECT_EQ(threshold_for_fmr(impostor, 0.001), 999);
  EXPECT_EQ(threshold_for_fmr(impostor, 0.0), 1000);
  EXPECT_EQ(threshold_for_fmr(impostor, 0.01), 990);
  const ScoreHistogram genuine(kMax, {980, 985, 995, 999});
  EXPECT_DOUBLE_EQ(fnmr_at_fmr(genuine, impostor, 0.01), 0.5) << "980 and 985 are below 990";
  EXPECT_DOUBLE_EQ(fnmr_at_fmr(genuine, impostor, 0.001), 0.75);
  EXPECT_DOUBLE_EQ(genuine.share_below(990), 0.5);
  EXPECT_DOUBLE_EQ(genuine.share_at_or_above(990), 0.5);
}

TEST(ErrorRates, RunningSumsGiveExactlyTheDirectRates) {
  std::mt19937 random(5);
  std::normal_distribution<double> genuine_score(300, 80), impostor_score(150, 40);
  for (int round = 0; round < 20; ++round) {
    std::vector<int> genuine, impostor;
    for (int i = 0; i < 280; ++i) genuine.push_back(std::clamp(static_cast<int>(genuine_score(random)), 0, kMax));
    for (int i = 0; i < 2880; ++i) impostor.push_back(std::clamp(static_cast<int>(impostor_score(random)), 0, kMax));
    EXPECT_EQ(equal_error_rate(ScoreHistogram(kMax, genuine), ScoreHistogram(kMax, impostor)), direct_eer(genuine, impostor));
  }
}

TEST(ErrorRates, WeightsCountAsRepeatedComparisons) {
  ScoreHistogram twice(kMax);
  twice.add(ScoreHistogram(kMax, {100, 200, 300}), 2);
  const ScoreHistogram repeated(kMax, {100, 100, 200, 200, 300, 300});
  EXPECT_EQ(twice.total(), repeated.total());
  for (int t : {0, 100, 150, 200, 250, 300, 301}) EXPECT_EQ(twice.share_at_or_above(t), repeated.share_at_or_above(t)) << t;
}

// Ten fingers (101-110), eight impressions: genuine pairs score about 300, impostors about 150;
// finger 104's genuine pairs score like impostors (a wet finger).
std::vector<NamedScore> ten_fingers(bool one_bad_finger, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<double> genuine(300, 30), impostor(150, 30);
  std::vector<NamedScore> pairs;
  for (int a = 0; a < 80; ++a) {
    for (int b = a + 1; b < 80; ++b) {
      const int finger_a = 101 + a / 8, finger_b = 101 + b / 8;
      const bool bad = one_bad_finger && finger_a == 104;
      const double value = finger_a == finger_b ? (bad ? impostor(random) : genuine(random)) : impostor(random);
      pairs.push_back({finger_a, 1 + a % 8, finger_b, 1 + b % 8, std::clamp(static_cast<int>(value), 0, kMax)});
    }
  }
  return pairs;
}

TEST(ErrorRates, IntervalsOverFingersAreWideWhenOneFingerFails) {
  const auto pairs = ten_fingers(true, 1);
  std::vector<int> genuine, impostor;
  for (const auto& pair : pairs) (pair.reference_finger == pair.probe_finger ? genuine : impostor).push_back(pair.score);
  const double eer = equal_error_rate(ScoreHistogram(kMax, genuine), ScoreHistogram(kMax, impostor));
  const auto intervals = intervals_over_fingers(pairs, kMax, 1000, 7, 0.9);
  EXPECT_EQ(intervals.resamples, 1000);
  EXPECT_LE(intervals.eer.low, eer);
  EXPECT_GE(intervals.eer.high, eer);
  // Draws without finger 104 (about a third of them) have nearly no errors; draws with it twice
  // have twice its share.
  EXPECT_LT(intervals.eer.low, 0.02);
  EXPECT_GT(intervals.eer.high, 0.08);
  EXPECT_LE(intervals.fnmr_at_fmr_0_1pct.low, intervals.fnmr_at_fmr_0_1pct.high);

  const auto healthy = intervals_over_fingers(ten_fingers(false, 1), kMax, 1000, 7, 0.9);
  EXPECT_LT(healthy.eer.high, 0.02) << "well separated fingers stay well separated";
}

TEST(ErrorRates, IntervalsAreRepeatableForASeed) {
  const auto pairs = ten_fingers(true, 2);
  const auto first = intervals_over_fingers(pairs, kMax, 300, 11, 0.9);
  const auto again = intervals_over_fingers(pairs, kMax, 300, 11, 0.9);
  EXPECT_EQ(first.eer.low, again.eer.low);
  EXPECT_EQ(first.eer.high, again.eer.high);
  EXPECT_EQ(first.fnmr_at_fmr_0_1pct.high, again.fnmr_at_fmr_0_1pct.high);
}

TEST(ErrorRates, NothingToResampleGivesNoInterval) {
  EXPECT_EQ(intervals_over_fingers({}, kMax, 100, 1, 0.9).resamples, 0);
  EXPECT_EQ(intervals_over_fingers({{1, 1, 500}, {1, 1, 400}}, kMax, 100, 1, 0.9).resamples, 0) << "one finger, no impostors";
}

TEST(ScoreList, FormatsAndParsesBack) {
  const std::vector<NamedScore> scores = {{101, 1, 101, 2, 173}, {101, 1, 102, 1, 0}, {102, 1, 102, 2, kMax}};
  const std::string text = format_score_list(scores);
  EXPECT_EQ(text, "101_1 101_2 173\n101_1 102_1 0\n102_1 102_2 1000\n");
  const auto parsed = parse_score_list(text, kMax);
  ASSERT_TRUE(parsed) << parsed.error().describe();
  EXPECT_EQ(format_score_list(*parsed), text);
  EXPECT_TRUE(parse_score_list("101_1 101_2 173", kMax)) << "the last newline may be missing";
}

TEST(ScoreList, RefusesAnythingElseNamingTheLine) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "no comparisons"},
      {"101_1 101_2 173\n\n", "line 2"},
      {"101_1 101_2 173\r\n", "line 1"},
      {"101_1\t101_2 173\n", "three fields"},
      {"101_1  101_2 173\n", "three fields"},
      {"101_1 101_2 173 9\n", "three fields"},
      {"101-1 101_2 173\n", "FFF_I"},
      {"101_ 101_2 173\n", "FFF_I"},
      {"101_1 101_2 -3\n", "0..1000"},
      {"101_1 101_2 1001\n", "0..1000"},
      {"101_1 101_2 17x\n", "0..1000"},
      {"101_1 101_1 5\n", "itself"},
      {"101_1 101_2 5\n101_2 101_1 6\n", "line 2: this pair is listed already"},
      {"1234567_1 101_2 5\n", "FFF_I"},
  };
  for (const auto& [text, why] : bad) {
    const auto parsed = parse_score_list(text, kMax);
    ASSERT_FALSE(parsed) << "accepted: " << text;
    EXPECT_NE(parsed.error().describe().find(why), std::string::npos) << parsed.error().describe();
  }
}

TEST(PairedIntervals, TheSameRunDiffersByNothing) {
  const auto run = ten_fingers(true, 3);
  const auto paired = paired_intervals_over_fingers(run, run, kMax, 500, 1, 0.9);
  ASSERT_TRUE(paired) << paired.error().describe();
  EXPECT_EQ(paired->resamples, 500);
  EXPECT_EQ(paired->eer.low, 0.0);
  EXPECT_EQ(paired->eer.high, 0.0);
  EXPECT_EQ(paired->eer_lower_share, 0.0);
}

TEST(PairedIntervals, AFixedBadFingerIsSeenAsABetterRunEvenWhereFingersVaryMore) {
  // The candidate repairs finger 104 (its genuine pairs score like the other fingers'); every
  // other score is the same. Each run alone spreads widely over the draws, their difference
  // is never in the candidate's disfavour.
  const auto baseline = ten_fingers(true, 4);
  auto candidate = ten_fingers(false, 4);
  for (std::size_t k = 0; k < candidate.size(); ++k) {
    if (candidate[k].reference_finger != 104 || candidate[k].probe_finger != 104) candidate[k].score = baseline[k].score;
  }
  const auto paired = paired_intervals_over_fingers(baseline, candidate, kMax, 1000, 2, 0.9);
  ASSERT_TRUE(paired) << paired.error().describe();
  EXPECT_LE(paired->eer.high, 0.0);
  EXPECT_LT(paired->eer.low, -0.02);
  EXPECT_GT(paired->eer_lower_share, 0.5) << "lower whenever finger 104 is drawn";
  EXPECT_LE(paired->fnmr_at_fmr_0_1pct.high, 0.0);
}

TEST(PairedIntervals, RunsOverOtherImagesAreRefused) {
  const auto run = ten_fingers(false, 5);
  auto fewer = run;
  fewer.pop_back();
  const auto missing = paired_intervals_over_fingers(run, fewer, kMax, 10, 1, 0.9);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().describe().find("not a run over the same images"), std::string::npos);
  auto other = run;
  other[0].probe_impression = 9;
  const auto unknown = paired_intervals_over_fingers(run, other, kMax, 10, 1, 0.9);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().describe().find("101_1 ~ 101_9"), std::string::npos) << unknown.error().describe();
}

}  // namespace
}  // namespace sdbox::bench
