#pragma once

#include "sdbox/common/finger_template.hpp"

#include <vector>

/// The comparison the card performs (on-card comparison): a compact-card probe against a
/// compact-card reference. Two views fused: Minutia Cylinder-Code local descriptors consolidated
/// by Local Similarity Sort with Relaxation (Cappelli, Ferrara, Maltoni, IEEE TPAMI 2010), and a
/// global consolidation (alignments proposed by the most similar local pairs, one-to-one pairing
/// with a tolerance for elastic skin, the best poses then bent by a thin-plate spline through their
/// pairs and paired again, judged on the area both prints show). Lives in common so the
/// card emulator and the benchmarks run the same code a box relies on.
namespace sdbox::finger {

/// Share of the consolidated view in the fused score; the local view has the rest.
inline constexpr double kConsolidatedWeight = 0.3;

/// A comparison's outcome. `score` is kScoreMax x ((1 - kConsolidatedWeight) x sqrt(local) +
/// kConsolidatedWeight x consolidated), rounded; the two parts are kept so that a tuning run can
/// say which view let an impostor through or failed a genuine pair.
struct Comparison {
  int score = 0;              ///< 0..kScoreMax
  int paired = 0;             ///< minutia pairs the local score rests on (up to 12)
  bool match = false;         ///< score >= kMatchThreshold
  double local = 0;           ///< 0..1: mean relaxed similarity of the best local pairs
  double consolidated = 0;    ///< 0..1: share paired in the best pose, rigid or bent
};

/// The product decision threshold on `score`: no impostor of the shared FVC sets (nor of their
/// mirrored, turned, blurred, sharpened or resampled copies) reaches it, and 37 of the 44,160
/// impostors of ten synthetic sets of 24 fingers do (tools/bench-fingerprint prints the FMR it
/// gives and the threshold FMR 0.1 % needs; docs/ops-guide.md has the figures).
inline constexpr int kMatchThreshold = 180;

/// The highest score: per mille, so that thresholds can be set finely.
inline constexpr int kScoreMax = 1000;

Comparison compare(const std::vector<CompactMinutia>& reference, const std::vector<CompactMinutia>& probe);

}  // namespace sdbox::finger
