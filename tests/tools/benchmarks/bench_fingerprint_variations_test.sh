#!/usr/bin/env bash
# tools/bench-fingerprint-variations' contract: one row per variation (the set's own resolution and
# those more than a quarter below it left out), each the figures a direct run of the benchmark
# gives, means that are the rows' means, options passed to every run, clear refusals.
source "$(dirname "$0")/../../peers/lib.sh"
variations="$top/tools/bench-fingerprint-variations"
synth="$SDBOX_BUILD_DIR/tools/fingersynth/sdbox-fingersynth"
bench="$SDBOX_BUILD_DIR/tools/benchmarks/sdbox-bench-fingerprint"
work=$(mktemp -d /tmp/sdbox-variations-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The capture names of the table's rows, one per line.
captures() { sed -nE 's/^  (as captured|mirrored|turned a quarter|blurred [^ ]+ px|sharpened [^ ]+|resampled x[0-9.]+) .*/\1/p' <<<"$1"; }
# The table's row for one capture: EER, FNMR at 1 %, at 0.1 %, at FMR 0 (percent), threshold.
row() { grep -E "^  $2 " <<<"$1" | sed -E 's/^  .{22} //; s/[%()]//g'; }

case "${1:?which case}" in
  rows_and_means_on_a_synthetic_set)
    "$synth" --out "$work/set" --fingers 3 --impressions 2 --dpi 500 --seed 4 >/dev/null
    # Synthetic fingers are easy (every figure 0): one finger's capture passed off as another's
    # gives an impostor pair of one image and a genuine pair of two fingers, so the figures are not.
    cp "$work/set/101_1.tif" "$work/set/103_1.tif"
    table=$("$variations" --jobs 2 --dpi 500 "$work/set")
    expected=$'as captured\nmirrored\nturned a quarter\nblurred 0.6 px\nsharpened 0.6\nresampled x0.8\nresampled x1.138'
    [[ "$(captures "$table")" == "$expected" ]] || fail "rows at 500 dpi: $(captures "$table")"
    # Each row is what the benchmark says when run on its own with that variation.
    for variation in "--mirror:mirrored" "--rescale 0.8:resampled x0.8" ":as captured"; do
      # shellcheck disable=SC2086
      line=$("$bench" --json --skip-libfprint ${variation%%:*} --dpi 500 "$work/set")
      direct=$(sed -E 's/.*"eer":([0-9.eE+-]+).*"fnmr_at_fmr_0":([0-9.eE+-]+).*"threshold_for_fmr_0":([0-9]+).*/\1 \2 \3/' <<<"$line")
      shown=$(row "$table" "${variation#*:}")
      awk -v direct="$direct" -v shown="$shown" 'BEGIN { split(direct, d, " "); split(shown, s, " ");
        exit !(sprintf("%.2f", 100 * d[1]) == sprintf("%.2f", s[1]) && sprintf("%.2f", 100 * d[2]) == sprintf("%.2f", s[4]) && d[3] == s[5]) }' ||
        fail "row '${variation#*:}' ($shown) is not the direct run's $line"
    done
    # The mean line is the mean of the rows, and the highest impostor one below the highest threshold.
    rows=$(grep -E '^  (as captured|mirrored|turned|blurred|sharpened|resampled)' <<<"$table" | sed -E 's/^  .{22} //; s/[%()]//g')
    mean=$(row "$table" mean)
    awk -v mean="$mean" '{ for (i = 1; i <= 4; ++i) sum[i] += $i; ++n }
      END { split(mean, m, " "); for (i = 1; i <= 4; ++i) { d = sum[i] / n - m[i]; if (d > 0.011 || d < -0.011) exit 1 } }' \
      <<<"$rows" || fail "mean '$mean' is not the mean of the rows: $rows"
    awk '$4 > 0 { found = 1 } END { exit !found }' <<<"$rows" || fail "every figure is 0, so the means prove nothing: $table"
    highest=$(awk '$5 - 1 > h { h = $5 - 1 } END { print h }' <<<"$rows")
    grep -q "highest impostor score of all runs: $highest$" <<<"$table" || fail "highest impostor is not $highest: $table"
    ;;
  other_sensors_follow_the_sets_resolution)
    "$synth" --out "$work/set" --fingers 2 --impressions 2 --dpi 569 --seed 4 >/dev/null
    table=$("$variations" --dpi 569 "$work/set")
    # 500 dpi is another sensor; 400 dpi would drop 30 % of the pixels; 569 is the set's own.
    [[ "$(captures "$table" | grep resampled)" == "resampled x0.8787" ]] || fail "rescaled rows at 569 dpi: $(captures "$table")"
    ;;
  options_reach_every_run)
    "$synth" --out "$work/set" --fingers 2 --impressions 2 --seed 4 >/dev/null
    # A tuning option changes what every run extracts; an unknown one fails the whole table clearly.
    plain=$("$variations" --dpi 500 "$work/set")
    tuned=$("$variations" --dpi 500 "$work/set" --border-margin-mm 3)
    [[ "$(grep -c . <<<"$plain")" == "$(grep -c . <<<"$tuned")" ]] || fail "a tuning option changed the table's shape: $tuned"
    [[ "$plain" != "$tuned" ]] || fail "--border-margin-mm 3 changed nothing: $tuned"
    set +e
    message=$("$variations" --dpi 500 "$work/set" --no-such-option 2>&1)
    status=$?
    set -e
    [[ $status -ne 0 ]] || fail "an unknown benchmark option was accepted"
    grep -q "failed" <<<"$message" || fail "the failure does not say a run failed: $message"
    grep -q -- "--no-such-option" <<<"$message" || fail "the failure does not name the option: $message"
    ! grep -q "mean" <<<"$message" || fail "a table was printed although a run failed: $message"
    ;;
  refuses_bad_usage)
    mkdir "$work/set"
    for arguments in "" "--dpi 500" "--dpi x $work/set" "--jobs 0 --dpi 500 $work/set" "--frobnicate --dpi 500 $work/set"; do
      set +e
      # shellcheck disable=SC2086
      message=$("$variations" $arguments 2>&1)
      status=$?
      set -e
      [[ $status -eq 2 ]] || fail "'$arguments' gave status $status: $message"
      [[ -n "$message" ]] || fail "no message for '$arguments'"
    done
    message=$("$variations" --dpi 500 "$work/absent")
    grep -q "absent: skipped" <<<"$message" || fail "an absent folder is not skipped: $message"
    ;;
  *) fail "unknown case $1" ;;
esac
