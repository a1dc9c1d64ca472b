#!/usr/bin/env bash
# sdbox-desktop-view with "on_screen": the desktop drawn full-screen on an X display (a private
# Xvfb), read back from the X server with xwd: the test desktop's background, and its key line
# after a key sent through the view. Then the view ends when its stdin closes (the agent went away).
set -euo pipefail
: "${SDBOX_BUILD_DIR:?set SDBOX_BUILD_DIR to the build directory}"
desktop="$SDBOX_BUILD_DIR/tools/test-desktop/sdbox-test-desktop"
view="$SDBOX_BUILD_DIR/firmware/sdbox-desktop-view"
suppressions="$(cd "$(dirname "$0")/../../support" && pwd)/lsan-freerdp.supp"
work=$(mktemp -d /tmp/sdbox-view.XXXXXX)
pids=()
cleanup() {
  exec 4>&- 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in desktop.log view.err view.out; do [[ -f "$work/$log" ]] && { echo "--- $log" >&2; tail -n 20 "$work/$log" >&2; }; done
  exit 1
}
export LSAN_OPTIONS="suppressions=$suppressions${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

Xvfb -displayfd 3 -nolisten tcp -screen 0 1024x768x24 3>"$work/display" 2>"$work/xvfb.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/display" ]] && break; sleep 0.05; done
[[ -s "$work/display" ]] || fail "Xvfb did not start"
export DISPLAY=":$(head -n1 "$work/display")"

printf 'alice:wonder land\n' >"$work/users"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/desktop.key" -out "$work/desktop.crt" \
  -subj /CN=desktop -days 1 2>/dev/null
"$desktop" --port 0 --users "$work/users" --cert "$work/desktop.crt" --key "$work/desktop.key" \
  --report "$work/report.json" >"$work/desktop.out" 2>"$work/desktop.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening port=' "$work/desktop.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^listening port=\([0-9]*\)$/\1/p' "$work/desktop.out")
[[ -n "$port" ]] || fail "the test desktop did not start"
pin=$(openssl x509 -in "$work/desktop.crt" -outform der | sha256sum | cut -d' ' -f1)

mkfifo "$work/view.in"
"$view" <"$work/view.in" >"$work/view.out" 2>"$work/view.err" &
view_pid=$!
pids+=("$view_pid")
exec 4>"$work/view.in"
printf '{"socket":"127.0.0.1","port":%s,"user":"alice","password":"wonder land","certificate_sha256":"%s","width":1024,"height":768,"on_screen":true}\n' \
  "$port" "$pin" >&4
for _ in $(seq 200); do grep -q '"first_frame"' "$work/view.out" 2>/dev/null && break; sleep 0.05; done
grep -q '"first_frame"' "$work/view.out" || fail "no first frame"

# The pixel at (x, y) of the X server's screen, as RRGGBB.
pixel() {
  xwd -root -silent >"$work/screen.xwd"
  python3 - "$work/screen.xwd" "$1" "$2" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
fields = struct.unpack(">25I", data[:100])
header_size, bits_per_pixel, bytes_per_line, byte_order, ncolors = fields[0], fields[11], fields[12], fields[7], fields[19]
start = header_size + ncolors * 12
x, y = int(sys.argv[2]), int(sys.argv[3])
at = start + y * bytes_per_line + x * (bits_per_pixel // 8)
b, g, r = (data[at], data[at + 1], data[at + 2]) if byte_order == 0 else (data[at + 3], data[at + 2], data[at + 1])
print(f"{r:02x}{g:02x}{b:02x}")
PY
}
wait_pixel() {  # wait_pixel X Y RRGGBB
  for _ in $(seq 100); do [[ "$(pixel "$1" "$2")" == "$3" ]] && return 0; sleep 0.05; done
  fail "pixel ($1,$2) is $(pixel "$1" "$2"), not $3"
}
wait_pixel 500 700 3c6e8c   # the test desktop's background, on the X screen
# Scancode 0x1E: cells 27..30 of the key line (y = 104) white, cell 31 black.
echo "key 0 30" >&4
wait_pixel $((27 * 16 + 8)) 104 ffffff
wait_pixel $((30 * 16 + 8)) 104 ffffff
wait_pixel $((31 * 16 + 8)) 104 000000
xwininfo -root -tree | grep -q '"SD-Box desktop"' || fail "no SD-Box window"

exec 4>&-   # the agent goes away: the view must end on its own
for _ in $(seq 100); do kill -0 "$view_pid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$view_pid" 2>/dev/null || fail "the view did not end when its stdin closed"
wait "$view_pid" || fail "the view exited with $?: $(grep -E 'Sanitizer|SUMMARY' "$work/view.err" | head)"
echo "ok"
