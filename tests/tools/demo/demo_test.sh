#!/usr/bin/env bash
# ./tools/demo --scripted --until session-ready: the whole login on this machine, the box driven
# through its console screen in tmux. It must reach "session ready", print a time for each step,
# and leave an intact audit chain.
source "$(dirname "$0")/../../peers/lib.sh"
output=$("$top/tools/demo" --scripted --until session-ready 2>&1) || fail "the demo failed:
$output"
echo "$output"
grep -q '^\[ *[0-9.]* s\] session ready' <<<"$output" || fail "no timed \"session ready\" step"
grep -qE 'Project census: desktop 127.0.0.1:[0-9]+.' <<<"$output" || fail "the box did not show the desktop"
grep -q 'audit chain intact' <<<"$output" || fail "the audit chain was not verified intact"
steps=$(grep -c '^\[ *[0-9.]* s\]' <<<"$output")
((steps >= 8)) || fail "only $steps timed steps"
echo PASS
