#!/usr/bin/env bash
# yubico-piv-tool -a status shows slot 9a with the demo certificate and the PIN tries.
source "$(dirname "$0")/lib.sh"
output=$(with_demo_card yubico-piv-tool -a status 2>&1) || fail "yubico-piv-tool failed: $output"
echo "$output"
grep -q "^Slot 9a:" <<<"$output" || fail "slot 9a not shown"
grep -q "Algorithm:.*ECCP256" <<<"$output" || fail "slot 9a algorithm not shown"
grep -q "Subject DN:.*CN=Demo Researcher" <<<"$output" || fail "slot 9a subject not shown"
grep -q "PIN tries left:.*3" <<<"$output" || fail "PIN tries not shown"
echo PASS
