#!/usr/bin/env bash
# ./tools/demo --scripted --desktop xrdp: the smoke test on a real desktop, xrdp + Xvnc for a
# throw-away local user (made and removed by the demo): first frame through the gateway, the box
# shows the session's own colours, card pulled with the X session kept, reconnected to it.
source "$(dirname "$0")/../../peers/lib.sh"
artifacts=$(mktemp -d /tmp/sdbox-demo-artifacts.XXXXXX)
trap 'rm -rf "$artifacts"' EXIT
output=$(SDBOX_DEMO_ARTIFACTS=$artifacts "$top/tools/demo" --scripted --desktop xrdp 2>&1) || fail "the demo failed:
$output"
echo "$output"
for step in "session ready" "first frame" "screenshot" "card removed" "session kept" "reconnected"; do
  grep -q "^\[ *[0-9.]* s\] $step" <<<"$output" || fail "no timed \"$step\" step"
done
grep -q 'the box shows the xrdp session' <<<"$output" || fail "the box did not show the xrdp session"
user=$(grep -o 'for local user sdboxdemo[0-9]*' <<<"$output" | awk '{print $4}')
[[ -n "$user" ]] || fail "the demo named no throw-away user"
! getent passwd "$user" >/dev/null || fail "the throw-away user $user was left behind"
echo PASS
