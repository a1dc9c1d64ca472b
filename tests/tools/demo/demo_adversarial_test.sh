#!/usr/bin/env bash
# ./tools/demo --scripted --adversarial: a modified box whose desktop client is xfreerdp asking for
# clipboard, a drive, printers, USB, smartcards, sound and microphone, through the real broker and
# gateway: 0 bytes reach the desktop on any channel, and each request is audited with the user,
# box and project.
source "$(dirname "$0")/../../peers/lib.sh"
output=$("$top/tools/demo" --scripted --adversarial 2>&1) || fail "the demo failed:
$output"
echo "$output"
grep -q '^\[ *[0-9.]* s\] adversarial: total leaked to the desktop: 0 bytes' <<<"$output" || fail "bytes leaked, or no total"
for channel in cliprdr rdpdr rdpsnd drdynvc; do
  grep -q "leaked 0 bytes on $channel (never reached the desktop)" <<<"$output" || fail "$channel reached the desktop"
  grep -q "blocked and audited: $channel .* user=alice box=box-1 project=census" <<<"$output" || fail "$channel not audited"
done
grep -q 'devices announced to the desktop: 0; clipboard offer acknowledged by the box: False' <<<"$output" ||
  fail "devices or the clipboard crossed"
! pgrep -f "sdbox-hostile" >/dev/null || fail "the hostile client's processes were left behind"
echo PASS
