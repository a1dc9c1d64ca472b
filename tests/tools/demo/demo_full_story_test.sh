#!/usr/bin/env bash
# ./tools/demo --scripted: the full story on this machine (login, the desktop's first frame through
# the gateway, typing, a screenshot of the box's view, card pulled with the session kept, card back
# and the same session reconnected, logoff), each step timed, the audit chain intact.
source "$(dirname "$0")/../../peers/lib.sh"
artifacts=$(mktemp -d /tmp/sdbox-demo-artifacts.XXXXXX)
trap 'rm -rf "$artifacts"' EXIT
output=$(SDBOX_DEMO_ARTIFACTS=$artifacts "$top/tools/demo" --scripted 2>&1) || fail "the demo failed:
$output"
echo "$output"
for step in "session ready" "first frame" "typing" "screenshot" "card removed" "session kept" "reconnected" "logged off"; do
  grep -q "^\[ *[0-9.]* s\] $step" <<<"$output" || fail "no timed \"$step\" step"
done
[[ "$(head -c 8 "$artifacts/demo-box-screen.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] ||
  fail "no PNG screenshot"
grep -q 'audit chain intact' <<<"$output" || fail "the audit chain was not verified intact"
grep -q 'desktop.disconnected' <<<"$output" || fail "the card pull was not audited"
echo PASS
