// sdbox-bench-fingerprint: the FVC protocol on a folder of FFF_I images through the product
// path (image -> our extractor -> compact-card template -> the card's comparison).
#include "finger/minutiae_extractor.hpp"
#include "capture_variation.hpp"
#include "error_rates.hpp"
#include "extraction_invariance.hpp"
#include "libfprint_peer.hpp"

#include "sdbox/common/finger_match.hpp"
#include "sdbox/common/finger_template.hpp"
#include "sdbox/common/image.hpp"
#include "sdbox/common/log.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <iostream>
#include <map>
#include <regex>
#include <cstdlib>
#include <unistd.h>

namespace {

using sdbox::finger::kScoreMax;

using namespace sdbox;
using Clock = std::chrono::steady_clock;

struct Sample {
  int finger = 0;
  int impression = 0;
  std::optional<std::vector<finger::CompactMinutia>> card_template;  // none: extraction refused
};

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

/// The capture, faded, with each minutia drawn: a square (ending) or a cross (bifurcation) and a
/// tick along its direction; darker for better quality.
GrayImage mark_minutiae(const GrayImage& image, const std::vector<finger::Minutia>& minutiae) {
  GrayImage marked = image;
  for (auto& pixel : marked.pixels) pixel = static_cast<std::uint8_t>(160 + pixel / 3);
  auto put = [&](double x, double y, std::uint8_t value) {
    const auto px = static_cast<int>(std::lround(x)), py = static_cast<int>(std::lround(y));
    if (px >= 0 && py >= 0 && px < marked.width && py < marked.height) {
      marked.pixels[static_cast<std::size_t>(py) * static_cast<std::size_t>(marked.width) + static_cast<std::size_t>(px)] = value;
    }
  };
  const double pixels_per_mm = image.dpi / 25.4;
  for (const auto& minutia : minutiae) {
    const double x = minutia.x_mm * pixels_per_mm, y = minutia.y_mm * pixels_per_mm;
    const auto value = static_cast<std::uint8_t>(std::clamp(140.0 - 140.0 * minutia.quality, 0.0, 140.0));
    for (int t = -3; t <= 3; ++t) {
      if (minutia.type == finger::MinutiaType::ending) {
        put(x + t, y - 3, value), put(x + t, y + 3, value), put(x - 3, y + t, value), put(x + 3, y + t, value);
      } else {
        put(x + t, y + t, value), put(x + t, y - t, value);
      }
    }
    for (int t = 3; t <= 12; ++t) put(x + t * std::cos(minutia.angle_rad), y - t * std::sin(minutia.angle_rad), value);
  }
  return marked;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-fingerprint: FVC protocol through extractor + compact card template + on-card comparison"};
  std::string folder;
  double dpi = 500;
  bool json = false;
  app.add_option("folder", folder, "folder of FFF_I.tif images (FVC naming)")->required();
  app.add_option("--dpi", dpi, "resolution of the images")->check(CLI::Range(250.0, 2000.0));
  app.add_flag("--json", json, "print one JSON line");
  bool skip_peer = false;
  std::filesystem::path trace_folder;
  app.add_option("--trace", trace_folder, "write each image's mask, enhanced and skeleton images here (tuning)");
  std::size_t list_worst = 0;
  app.add_option("--list-worst", list_worst, "also list the N lowest genuine and N highest impostor scores (tuning)");
  app.add_flag("--skip-libfprint", skip_peer, "do not measure libfprint's matcher (quicker tuning runs)");
  std::filesystem::path scores_out, against;
  app.add_option("--scores-out", scores_out, "write every comparison's score here (a new file), for a later --against");
  app.add_option("--against", against, "a baseline run's --scores-out file: intervals of the differences on the same fingers")
      ->check(CLI::ExistingFile);
  firmware::ExtractorOptions extractor;
  app.add_option("--orientation-sigma", extractor.orientation_sigma, "extractor tuning: orientation smoothing");
  app.add_option("--along-ridge-sigma", extractor.along_ridge_sigma, "extractor tuning: smoothing along ridges");
  app.add_option("--min-coherence", extractor.min_coherence, "extractor tuning: least ridge-flow coherence");
  app.add_option("--segmentation-block", extractor.segmentation_block, "extractor tuning: finger/background block (pixels)")
      ->check(CLI::Range(4, 64));
  app.add_option("--border-margin-mm", extractor.border_margin_mm, "extractor tuning: minutiae kept this far inside");
  bool invariance = false;
  app.add_flag("--invariance", invariance,
               "also extract each image mirrored and turned a quarter: the share of minutiae found again (tuning)");
  bench::CaptureVariation variation;
  app.add_option("--rescale", variation.rescale, "resample every image by this factor first (another sensor's resolution)")
      ->check(CLI::Range(0.5, 2.0));
  app.add_option("--blur", variation.blur_px, "blur every image (Gaussian sigma, pixels): softer optics")->check(CLI::Range(0.0, 3.0));
  app.add_option("--sharpen", variation.sharpen, "sharpen every image (unsharp mask amount, radius 2 px)")
      ->check(CLI::Range(0.0, 3.0));
  app.add_flag("--mirror", variation.mirror, "mirror every image left to right");
  app.add_flag("--quarter-turn", variation.quarter_turn, "turn every image a quarter clockwise");
  CLI11_PARSE(app, argc, argv);
  log::init("bench-fingerprint", "warn");

  if (!std::filesystem::is_directory(folder)) {
    std::cout << "bench-fingerprint: " << folder << " is absent: skipped\n";
    return 0;
  }
  const std::regex name(R"((\d+)_(\d+)\.(tif|tiff|pgm))");
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (std::regex_match(entry.path().filename().string(), name)) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) {
    std::cerr << "bench-fingerprint: no FFF_I images in " << folder << "\n";
    return 1;
  }

  std::vector<Sample> samples;
  std::vector<GrayImage> images;  // kept for the libfprint peer
  images.reserve(paths.size());
  std::vector<double> extract_ms, match_ms;
  std::size_t refused = 0;
  const finger::CardTemplateRules rules;
  bench::AgreementLadder mirror_ladder, turn_ladder;
  for (const auto& path : paths) {
    std::smatch parts;
    const std::string file = path.filename().string();
    std::regex_match(file, parts, name);
    auto image = read_image(path, dpi);
    if (!image) {
      std::cerr << image.error().describe() << "\n";
      return 1;
    }
    image->dpi = dpi;
    if (variation.any()) *image = bench::varied(*image, variation);
    images.push_back(*image);
    const auto start = Clock::now();
    firmware::ExtractionTrace trace;
    auto extraction = firmware::extract_minutiae(*image, extractor, trace_folder.empty() ? nullptr : &trace);
    if (!trace_folder.empty() && extraction) {
      const std::string stem = path.stem().string();
      GrayImage marked = mark_minutiae(*image, extraction->minutiae);
      for (const auto& [suffix, picture] : {std::pair<const char*, const GrayImage*>{".mask.tif", &trace.mask}, {".enhanced.tif", &trace.enhanced}, {".skeleton.tif", &trace.skeleton},
                                            {".minutiae.tif", &marked}}) {
        if (auto written = write_image(*picture, trace_folder / (stem + suffix)); !written) {
          std::cerr << written.error().describe() << "\n";
          return 1;
        }
      }
    }
    std::optional<std::vector<finger::CompactMinutia>> compact;
    if (extraction) {
      auto card = finger::to_card_template(extraction->minutiae, rules);
      if (card) compact = std::move(*card);
    }
    extract_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (!compact) ++refused;
    samples.push_back({std::stoi(parts[1]), std::stoi(parts[2]), std::move(compact)});
    // After the timing: the turned images are extra work the product never does.
    if (invariance && extraction) {
      for (const auto turn : {bench::LosslessTurn::mirror, bench::LosslessTurn::quarter_turn}) {
        const auto other = firmware::extract_minutiae(bench::turned(*image, turn), extractor);
        if (!other) continue;
        (turn == bench::LosslessTurn::mirror ? mirror_ladder : turn_ladder) +=
            bench::agreement_ladder(extraction->minutiae, bench::carried_back(other->minutiae, *image, turn));
      }
    }
  }
  auto compare = [&](const Sample& reference, const Sample& probe) {
    if (!reference.card_template || !probe.card_template) return finger::Comparison{};  // a refused capture never matches
    const auto start = Clock::now();
    const auto result = finger::compare(*reference.card_template, *probe.card_template);
    match_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    return result;
  };
  struct Scored {
    finger::Comparison result;
    std::size_t reference, probe;
  };
  std::vector<Scored> genuine_pairs, impostor_pairs;
  bench::ScoreHistogram genuine_scores(kScoreMax), impostor_scores(kScoreMax);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    for (std::size_t j = i + 1; j < samples.size(); ++j) {
      const auto result = compare(samples[i], samples[j]);
      const bool same_finger = samples[i].finger == samples[j].finger;
      (same_finger ? genuine_scores : impostor_scores).add(result.score);
      (same_finger ? genuine_pairs : impostor_pairs).push_back({result, i, j});
    }
  }
  if (list_worst > 0) {
    auto list = [&](std::vector<Scored>& pairs, bool lowest, const char* what) {
      std::sort(pairs.begin(), pairs.end(), [&](const Scored& a, const Scored& b) { return lowest ? a.result.score < b.result.score : a.result.score > b.result.score; });
      for (std::size_t k = 0; k < std::min(list_worst, pairs.size()); ++k) {
        const auto& reference = samples[pairs[k].reference];
        const auto& probe = samples[pairs[k].probe];
        std::cerr << what << " " << reference.finger << "_" << reference.impression << " ~ " << probe.finger << "_"
                  << probe.impression << ": " << pairs[k].result.score << " (" << (reference.card_template ? reference.card_template->size() : 0)
                  << " and " << (probe.card_template ? probe.card_template->size() : 0) << " minutiae; "
                  << fmt::format("local {:.4f}, consolidated {:.4f})\n", pairs[k].result.local, pairs[k].result.consolidated);
      }
    };
    list(genuine_pairs, true, "genuine");
    list(impostor_pairs, false, "impostor");
  }
  if (genuine_pairs.empty() || impostor_pairs.empty()) {
    std::cerr << "bench-fingerprint: need at least two fingers with two impressions each\n";
    return 1;
  }
  std::vector<bench::NamedScore> named;
  for (const auto& group : {&genuine_pairs, &impostor_pairs}) {
    for (const auto& pair : *group) {
      const auto& reference = samples[pair.reference];
      const auto& probe = samples[pair.probe];
      named.push_back({reference.finger, reference.impression, probe.finger, probe.impression, pair.result.score});
    }
  }
  if (!scores_out.empty()) {
    // A baseline is worth keeping: never written over ("x": the file is created or nothing is).
    const std::string text = bench::format_score_list(named);
    std::FILE* out = std::fopen(scores_out.c_str(), "wx");
    const bool written = out != nullptr && std::fwrite(text.data(), 1, text.size(), out) == text.size();
    if (out == nullptr || std::fclose(out) != 0 || !written) {
      std::cerr << "bench-fingerprint: cannot write " << scores_out << " (it must not exist yet)\n";
      return 1;
    }
  }
  std::optional<bench::DifferenceIntervals> difference;
  if (!against.empty()) {
    std::ifstream in(against, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto baseline = bench::parse_score_list(text, kScoreMax);
    if (!baseline) {
      std::cerr << "bench-fingerprint: " << against << ": " << baseline.error().describe() << "\n";
      return 1;
    }
    auto paired = bench::paired_intervals_over_fingers(*baseline, named, kScoreMax, 2000, 2026, 0.9);
    if (!paired) {
      std::cerr << "bench-fingerprint: " << against << ": " << paired.error().describe() << "\n";
      return 1;
    }
    difference = *paired;
  }
  const double eer = bench::equal_error_rate(genuine_scores, impostor_scores);
  const double fnmr1 = bench::fnmr_at_fmr(genuine_scores, impostor_scores, 0.01);
  const double fnmr01 = bench::fnmr_at_fmr(genuine_scores, impostor_scores, 0.001);
  const int threshold01 = bench::threshold_for_fmr(impostor_scores, 0.001);
  const double fnmr0 = bench::fnmr_at_fmr(genuine_scores, impostor_scores, 0.0);
  const int threshold0 = bench::threshold_for_fmr(impostor_scores, 0.0);
  // Ten fingers are few: how far the figures move when other fingers of the same kind are drawn.
  constexpr int kResamples = 2000;
  constexpr double kCoverage = 0.9;
  const auto intervals = bench::intervals_over_fingers(named, kScoreMax, kResamples, 2026, kCoverage);
  const double product_fmr = impostor_scores.share_at_or_above(finger::kMatchThreshold);
  const double product_fnmr = genuine_scores.share_below(finger::kMatchThreshold);
  std::optional<bench::PeerRates> peer;
  if (!skip_peer) {
    std::vector<bench::PeerImage> peer_images;
    for (std::size_t i = 0; i < samples.size(); ++i) peer_images.push_back({samples[i].finger, samples[i].impression, &images[i]});
    std::string socket_dir = (std::filesystem::temp_directory_path() / "sdbox-bench-XXXXXX").string();
    if (::mkdtemp(socket_dir.data()) == nullptr) {
      std::cerr << "bench-fingerprint: cannot create a temporary folder\n";
      return 1;
    }
    auto rates = bench::measure_libfprint(peer_images, socket_dir);
    std::filesystem::remove_all(socket_dir);
    if (!rates) {
      std::cerr << "bench-fingerprint: libfprint peer: " << rates.error().describe() << "\n";
      return 1;
    }
    peer = *rates;
  }
  // Our FNMR at the FMR libfprint runs at: the like-for-like comparison of the two matchers.
  const double fnmr_at_peer_fmr = peer ? bench::fnmr_at_fmr(genuine_scores, impostor_scores, peer->fmr) : 0;
  // And ours on exactly libfprint's attempts: each finger's first impression as the reference,
  // every other image as a probe.
  std::vector<int> attempt_genuine, attempt_impostor;
  if (peer) {
    std::map<int, std::size_t> first;  // finger -> its first impression
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const auto [entry, fresh] = first.try_emplace(samples[i].finger, i);
      if (!fresh && samples[i].impression < samples[entry->second].impression) entry->second = i;
    }
    for (const auto& [finger_id, reference] : first) {
      for (std::size_t probe = 0; probe < samples.size(); ++probe) {
        if (probe == reference) continue;
        const int value = compare(samples[reference], samples[probe]).score;
        (samples[probe].finger == finger_id ? attempt_genuine : attempt_impostor).push_back(value);
      }
    }
  }
  const bench::ScoreHistogram attempt_genuine_scores(kScoreMax, attempt_genuine), attempt_impostor_scores(kScoreMax, attempt_impostor);
  const double attempt_fmr = attempt_impostor_scores.share_at_or_above(finger::kMatchThreshold);
  const double attempt_fnmr = attempt_genuine_scores.share_below(finger::kMatchThreshold);
  const double attempt_fnmr_at_peer_fmr = peer && !attempt_genuine.empty() && !attempt_impostor.empty()
                                              ? bench::fnmr_at_fmr(attempt_genuine_scores, attempt_impostor_scores, peer->fmr)
                                              : 0;
  if (json) {
    nlohmann::json line{{"eer", eer},
                                {"fnmr_at_fmr_1pct", fnmr1},
                                {"fnmr_at_fmr_0_1pct", fnmr01},
                                {"eer_interval_90pct", {intervals.eer.low, intervals.eer.high}},
                                {"fnmr_at_fmr_0_1pct_interval_90pct", {intervals.fnmr_at_fmr_0_1pct.low, intervals.fnmr_at_fmr_0_1pct.high}},
                                {"extract_ms_median", median(extract_ms)},
                                {"match_ms_median", median(match_ms)},
                                {"product_threshold", {{"score", finger::kMatchThreshold}, {"fmr", product_fmr}, {"fnmr", product_fnmr}}},
                                {"threshold_for_fmr_0_1pct", threshold01},
                                {"fnmr_at_fmr_0", fnmr0},
                                {"threshold_for_fmr_0", threshold0},
                                {"images", samples.size()},
                                {"capture", variation.describe()},
                                {"refused_images", refused},
                                {"genuine_pairs", genuine_pairs.size()},
                                {"impostor_pairs", impostor_pairs.size()}};
    if (peer) {
      line["libfprint"] = {{"fmr", peer->fmr},
                           {"fnmr", peer->fnmr},
                           {"genuine_attempts", peer->genuine_attempts},
                           {"impostor_attempts", peer->impostor_attempts},
                           {"failed_enrolments", peer->failed_enrolments},
                           {"retried_verifications", peer->retried_verifications},
                           {"verify_ms_median", peer->verify_ms_median}};
      line["fnmr_at_libfprint_fmr"] = fnmr_at_peer_fmr;
      line["ours_on_libfprint_attempts"] = {{"fmr", attempt_fmr},
                                            {"fnmr", attempt_fnmr},
                                            {"fnmr_at_libfprint_fmr", attempt_fnmr_at_peer_fmr}};
    }
    if (invariance) {
      auto looser = [](const bench::AgreementLadder& ladder) {
        return nlohmann::json{{"any_type", ladder.any_type.share()},
                              {"any_direction", ladder.any_direction.share()},
                              {"within_0_5mm", ladder.nearby.share()}};
      };
      line["invariance"] = {{"mirror_shared", mirror_ladder.exact.share()},
                            {"quarter_turn_shared", turn_ladder.exact.share()},
                            {"mirror_looser", looser(mirror_ladder)},
                            {"quarter_turn_looser", looser(turn_ladder)}};
    }
    if (difference) {
      line["against"] = {{"eer_difference_interval_90pct", {difference->eer.low, difference->eer.high}},
                         {"fnmr_at_fmr_0_1pct_difference_interval_90pct",
                          {difference->fnmr_at_fmr_0_1pct.low, difference->fnmr_at_fmr_0_1pct.high}},
                         {"eer_lower_share", difference->eer_lower_share},
                         {"resamples", difference->resamples}};
    }
    std::cout << line.dump() << "\n";
  } else {
    fmt::print("{}: {} images at {} dpi ({}), {} genuine and {} impostor comparisons, {} images refused\n", folder,
               samples.size(), dpi * variation.rescale, variation.describe(), genuine_pairs.size(), impostor_pairs.size(), refused);
    fmt::print("  EER {:.2f} %   FNMR at FMR 1 % {:.2f} %   at FMR 0.1 % {:.2f} %\n", 100 * eer, 100 * fnmr1, 100 * fnmr01);
    fmt::print("  {:.0f} % intervals over the fingers ({} resamples): EER {:.2f}-{:.2f} %   FNMR at FMR 0.1 % {:.2f}-{:.2f} %\n",
               100 * kCoverage, intervals.resamples, 100 * intervals.eer.low, 100 * intervals.eer.high,
               100 * intervals.fnmr_at_fmr_0_1pct.low, 100 * intervals.fnmr_at_fmr_0_1pct.high);
    if (difference) {
      fmt::print("  against {} (same fingers resampled {} times, 90 %): EER {:+.2f} to {:+.2f} points (lower in {:.0f} % of "
                 "draws)   FNMR at FMR 0.1 % {:+.2f} to {:+.2f} points\n",
                 against.string(), difference->resamples, 100 * difference->eer.low, 100 * difference->eer.high,
                 100 * difference->eer_lower_share, 100 * difference->fnmr_at_fmr_0_1pct.low,
                 100 * difference->fnmr_at_fmr_0_1pct.high);
    }
    fmt::print("  product threshold {}: FMR {:.2f} %  FNMR {:.2f} %\n", finger::kMatchThreshold, 100 * product_fmr,
               100 * product_fnmr);
    fmt::print("  score threshold needed for FMR 0.1 %: {}\n", threshold01);
    fmt::print("  at FMR 0 (score threshold {}): FNMR {:.2f} %\n", threshold0, 100 * fnmr0);
    if (invariance) {
      fmt::print("  minutiae found again: mirrored {:.2f} % ({} and {}), turned a quarter {:.2f} % ({} and {})\n",
                 100 * mirror_ladder.exact.share(), mirror_ladder.exact.first, mirror_ladder.exact.second,
                 100 * turn_ladder.exact.share(), turn_ladder.exact.first, turn_ladder.exact.second);
      fmt::print("    paired more loosely (mirrored / turned): type ignored {:.2f} / {:.2f} %, direction too {:.2f} / {:.2f} %, "
                 "and within 0.5 mm {:.2f} / {:.2f} %\n",
                 100 * mirror_ladder.any_type.share(), 100 * turn_ladder.any_type.share(),
                 100 * mirror_ladder.any_direction.share(), 100 * turn_ladder.any_direction.share(),
                 100 * mirror_ladder.nearby.share(), 100 * turn_ladder.nearby.share());
    }
    fmt::print("  extraction median {:.1f} ms   comparison median {:.3f} ms\n", median(extract_ms), median(match_ms));
    if (peer) {
      fmt::print("libfprint (bozorth3, fixed threshold): FMR {:.2f} %  FNMR {:.2f} %  ({} genuine, {} impostor attempts, "
                 "{} fingers not enrolled, {} probes asked to retry, verify median {:.1f} ms)\n",
                 100 * peer->fmr, 100 * peer->fnmr, peer->genuine_attempts, peer->impostor_attempts,
                 peer->failed_enrolments, peer->retried_verifications, peer->verify_ms_median);
      fmt::print("  ours at libfprint's FMR: FNMR {:.2f} %\n", 100 * fnmr_at_peer_fmr);
      fmt::print("  ours on libfprint's own attempts: FMR {:.2f} %  FNMR {:.2f} % at the product threshold; "
                 "FNMR {:.2f} % at libfprint's FMR\n",
                 100 * attempt_fmr, 100 * attempt_fnmr, 100 * attempt_fnmr_at_peer_fmr);
    }
  }
  return 0;
}
