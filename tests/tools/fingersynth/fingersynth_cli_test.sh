#!/usr/bin/env bash
# sdbox-fingersynth's contract: an FVC-style folder (FFF_I.tif + ground truth FFF_I.json), the same
# bytes from the same seed in another process, never an overwrite, clear refusals; and
# bench-fingerprint (ours and libfprint's matcher through virtual_image) runs on what it makes.
source "$(dirname "$0")/../../peers/lib.sh"
synth="$SDBOX_BUILD_DIR/tools/fingersynth/sdbox-fingersynth"
bench="$SDBOX_BUILD_DIR/tools/benchmarks/sdbox-bench-fingerprint"
work=$(mktemp -d /tmp/sdbox-synth.XXXXXX)
trap 'rm -rf "$work"' EXIT

case "${1:?which case}" in
  writes_an_fvc_folder)
    "$synth" --out "$work/set" --fingers 3 --impressions 2 --first-finger 201 --seed 9 >/dev/null
    expected="201_1.json 201_1.tif 201_2.json 201_2.tif 202_1.json 202_1.tif 202_2.json 202_2.tif 203_1.json 203_1.tif 203_2.json 203_2.tif"
    [[ "$(ls "$work/set" | tr '\n' ' ' | sed 's/ $//')" == "$expected" ]] || fail "unexpected files: $(ls "$work/set")"
    grep -q '"minutiae"' "$work/set/202_2.json" || fail "no ground truth in 202_2.json"
    grep -q '"x_mm"' "$work/set/202_2.json" || fail "ground truth without positions"
    [[ "$(head -c 2 "$work/set/201_1.tif")" == "II" ]] || fail "not a TIFF"
    ;;
  same_seed_same_bytes)
    "$synth" --out "$work/a" --fingers 2 --impressions 2 --seed 5 >/dev/null
    "$synth" --out "$work/b" --fingers 2 --impressions 2 --seed 5 >/dev/null
    "$synth" --out "$work/c" --fingers 2 --impressions 2 --seed 6 >/dev/null
    (cd "$work/a" && sha256sum *) > "$work/a.sums"
    (cd "$work/b" && sha256sum -c --quiet "$work/a.sums") || fail "seed 5 gave other bytes in another run"
    ! (cd "$work/c" && sha256sum -c --quiet "$work/a.sums" 2>/dev/null) || fail "seed 6 gave seed 5's images"
    ;;
  never_overwrites)
    "$synth" --out "$work/set" --fingers 2 --impressions 1 --seed 1 >/dev/null
    (cd "$work/set" && sha256sum *) > "$work/sums"
    set +e
    message=$("$synth" --out "$work/set" --fingers 1 --impressions 1 --seed 2 2>&1)
    status=$?
    set -e
    [[ $status -ne 0 ]] || fail "writing over an existing set must be refused"
    grep -q "already exists" <<<"$message" || fail "unclear refusal: $message"
    (cd "$work/set" && sha256sum -c --quiet "$work/sums") || fail "an existing image changed"
    ;;
  refuses_bad_options)
    for options in "--dpi 100" "--fingers 0" "--impressions 10" "--difficulty 3" "--first-finger 990 --fingers 20"; do
      set +e
      # shellcheck disable=SC2086
      message=$("$synth" --out "$work/bad" $options 2>&1)
      status=$?
      set -e
      [[ $status -ne 0 ]] || fail "accepted $options"
      [[ -n "$message" ]] || fail "no message for $options"
      [[ ! -e "$work/bad/101_1.tif" ]] || fail "$options wrote images"
    done
    ;;
  benchmark_runs_on_a_synthetic_set)
    "$synth" --out "$work/set" --fingers 4 --impressions 3 --seed 3 >/dev/null
    line=$("$bench" --json --dpi 500 "$work/set")
    for key in eer fnmr_at_fmr_1pct fnmr_at_fmr_0_1pct fnmr_at_fmr_0 threshold_for_fmr_0 extract_ms_median match_ms_median libfprint fmr fnmr; do
      grep -q "\"$key\":" <<<"$line" || fail "no $key in $line"
    done
    number() { sed -E "s/.*\"$1\":([0-9.eE+-]+).*/\1/" <<<"$line"; }
    # A stricter FMR can only need a higher threshold and refuse more genuine pairs.
    awk -v zero="$(number fnmr_at_fmr_0)" -v tenth="$(number fnmr_at_fmr_0_1pct)" 'BEGIN { exit !(zero >= tenth) }' ||
      fail "FNMR at FMR 0 below FNMR at 0.1 %: $line"
    [[ "$(number threshold_for_fmr_0)" -ge "$(number threshold_for_fmr_0_1pct)" ]] || fail "threshold for FMR 0 below the one for 0.1 %: $line"
    eer=$(number eer)
    awk -v eer="$eer" 'BEGIN { exit !(eer < 0.05) }' || fail "EER $eer on easy synthetic fingers: $line"
    # The interval over resampled fingers is a [low, high] pair in 0..1.
    interval=$(sed -E 's/.*"eer_interval_90pct":\[([0-9.eE+-]+),([0-9.eE+-]+)\].*/\1 \2/' <<<"$line")
    awk -v pair="$interval" 'BEGIN { split(pair, v, " "); exit !(v[1] >= 0 && v[1] <= v[2] && v[2] <= 1) }' ||
      fail "no sane eer_interval_90pct in $line"
    grep -q '"fnmr_at_fmr_0_1pct_interval_90pct":\[' <<<"$line" || fail "no fnmr_at_fmr_0_1pct_interval_90pct in $line"
    genuine=$(number genuine_attempts)
    [[ "$genuine" -eq 8 ]] || fail "libfprint made $genuine genuine attempts, expected 8: $line"
    # The listed pairs show the score's two parts, and the score is those parts fused.
    listed=$("$bench" --skip-libfprint --list-worst 2 --dpi 500 "$work/set" 2>&1 >/dev/null | grep -E '^(genuine|impostor) ')
    [[ "$(grep -c . <<<"$listed")" -eq 4 ]] || fail "--list-worst 2 did not list two of each: $listed"
    awk '{ match($0, /: [0-9]+ /); score = substr($0, RSTART + 2, RLENGTH - 3) + 0
           if (!match($0, /local [0-9.]+, consolidated [0-9.]+\)$/)) exit 1
           split(substr($0, RSTART, RLENGTH - 1), part, /[ ,]+/); local = part[2]; consolidated = part[4]
           if (local < 0 || local > 1 || consolidated < 0 || consolidated > 1) exit 1
           fused = 1000 * (0.7 * sqrt(local) + 0.3 * consolidated); if (fused - score > 1 || score - fused > 1) exit 1 }' \
      <<<"$listed" || fail "a listed score is not its parts fused: $listed"
    # The extractor's repeatability on each image mirrored and turned: shares in 0..1, most found again.
    turned=$("$bench" --json --skip-libfprint --invariance --dpi 500 "$work/set")
    for key in mirror_shared quarter_turn_shared; do
      share=$(sed -E "s/.*\"$key\":([0-9.eE+-]+).*/\1/" <<<"$turned")
      awk -v share="$share" 'BEGIN { exit !(share > 0.7 && share <= 1) }' || fail "$key $share in $turned"
      # Paired more loosely (type, then direction ignored, then within 0.5 mm), more are found.
      looser=$(sed -E "s/.*\"${key%_shared}_looser\":\{\"any_direction\":([0-9.eE+-]+),\"any_type\":([0-9.eE+-]+),\"within_0_5mm\":([0-9.eE+-]+)\}.*/\2 \1 \3/" <<<"$turned")
      awk -v exact="$share" -v rungs="$looser" 'BEGIN { n = split(rungs, v, " ");
        exit !(n == 3 && v[1] >= exact && v[2] >= exact && v[3] >= v[2] && v[3] <= 1) }' ||
        fail "${key%_shared}_looser not climbing from $share: '$looser' in $turned"
    done
    ;;
  *) fail "unknown case $1" ;;
esac
