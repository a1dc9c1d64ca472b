#!/usr/bin/env bash
# sdbox-test-desktop with a real RDP client no one here wrote: xfreerdp (FreeRDP 2) on a private
# Xvfb. Each case starts its own test desktop on a free port and reads its JSON report.
set -euo pipefail
: "${SDBOX_BUILD_DIR:?set SDBOX_BUILD_DIR to the build directory}"
desktop="$SDBOX_BUILD_DIR/tools/test-desktop/sdbox-test-desktop"
work=$(mktemp -d /tmp/sdbox-desk.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  [[ -f "$work/desktop.log" ]] && { echo "--- test desktop log" >&2; tail -n 30 "$work/desktop.log" >&2; }
  [[ -f "$work/report.json" ]] && { echo "--- report" >&2; cat "$work/report.json" >&2; }
  exit 1
}

printf 'alice:wonder land\nbob:builder\n' > "$work/users"

# A private X display for xfreerdp; -displayfd lets Xvfb pick a free number itself.
start_xvfb() {
  Xvfb -displayfd 3 -nolisten tcp -screen 0 1280x1024x24 3>"$work/display" 2>"$work/xvfb.log" &
  pids+=($!)
  for _ in $(seq 100); do [[ -s "$work/display" ]] && break; sleep 0.05; done
  [[ -s "$work/display" ]] || fail "Xvfb did not start: $(cat "$work/xvfb.log")"
  export DISPLAY=":$(head -n1 "$work/display")"
}

# Under ASan: FreeRDP 2's own per-connection key leak is suppressed (see the file), ours are not.
start_desktop() {
  LSAN_OPTIONS="suppressions=$(dirname "$0")/../../support/lsan-freerdp.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
  ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
  "$desktop" --port 0 --users "$work/users" --report "$work/report.json" --control "$work/control" "$@" \
    >"$work/desktop.out" 2>"$work/desktop.log" &
  desktop_pid=$!
  pids+=("$desktop_pid")
  for _ in $(seq 100); do grep -q '^listening port=' "$work/desktop.out" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's/^listening port=\([0-9]*\)$/\1/p' "$work/desktop.out")
  [[ -n "$port" ]] || fail "no 'listening port=N' line"
}

# xfreerdp in the background; the first argument names it (its output goes to $work/NAME.log).
start_client() {
  local name=$1
  shift
  xfreerdp /v:127.0.0.1:"$port" /cert:ignore /sec:tls /log-level:WARN "$@" >"$work/$name.log" 2>&1 &
  client_pid=$!
  pids+=("$client_pid")
}
stop_client() {
  kill "$client_pid" 2>/dev/null || true
  wait "$client_pid" 2>/dev/null || true
}

source "$(dirname "$0")/../../support/desktop_report.sh"
control() { python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall((sys.argv[2] + "\n").encode())
print(s.makefile().readline().strip())' "$work/control" "$1"; }

case "${1:?which case}" in
  connects_draws_and_refuses_wrong_password)
    start_xvfb
    start_desktop
    start_client good /u:alice "/p:wonder land"
    wait_for 's is not None and s["state"] == "connected" and s["frames_sent"] > 2'
    [[ "$(report 's["desktop_size"]')" == "1024x768" ]] || fail "unexpected desktop size"
    # xfreerdp's focus-in sends a synchronize and a Tab release: input arrived.
    wait_for 's["inputs_received"] > 0'
    stop_client
    wait_for 's["state"] == "disconnected"'

    for attempt in "alice|wrong" "mallory|wonder land" ; do
      user=${attempt%%|*}
      password=${attempt#*|}
      set +e
      timeout 30 xfreerdp /v:127.0.0.1:"$port" /cert:ignore /sec:tls /log-level:WARN /u:"$user" "/p:$password" >"$work/bad.log" 2>&1
      status=$?
      set -e
      [[ $status -ne 0 && $status -ne 124 ]] || fail "xfreerdp as $user with a wrong password: exit $status"
    done
    wait_for 'len(r["refused_logons"]) == 2'
    [[ "$(report '[x["reason"] for x in r["refused_logons"]]')" == "['wrong password', 'unknown user']" ]] ||
      fail "refusals: $(report 'r["refused_logons"]')"
    [[ "$(report 'len(r["sessions"])')" == "1" ]] || fail "a refused logon made a session"
    ! grep -q "wonder land" "$work/desktop.log" || fail "a password reached the log"

    kill -TERM "$desktop_pid"
    wait "$desktop_pid" || fail "exit status $? after SIGTERM: $(grep -E 'Sanitizer|SUMMARY|#[0-9]+ ' "$work/desktop.log" | grep -v -E 'asan_malloc|libcrypto' | head -30)"
    grep -q "stopped" "$work/desktop.log" || fail "no clean stop"
    [[ ! -e "$work/control" ]] || fail "control socket left behind"
    ;;

  reconnect_keeps_the_session_logoff_ends_it)
    start_xvfb
    start_desktop
    start_client first /u:alice "/p:wonder land"
    wait_for 's is not None and s["state"] == "connected" and s["frames_sent"] > 0'
    id=$(report 's["session_id"]')
    stop_client
    wait_for 's["state"] == "disconnected"'
    before=$(report 's["clock_ms"]')
    sleep 1.5
    start_client second /u:alice "/p:wonder land"
    wait_for 's["state"] == "connected" and s["connections"] == 2'
    [[ "$(report 's["session_id"]')" == "$id" ]] || fail "reconnect made a new session"
    [[ "$(report 'len(r["sessions"])')" == "1" ]] || fail "more than one session"
    wait_for "s['clock_ms'] >= $before + 1500"
    [[ "$(report 's["clock_ticks"] == s["clock_ms"] // 250')" == "True" ]] || fail "ticks do not follow the clock"

    # Logoff (the control socket: FreeRDP's server library hides the client's shutdown request).
    [[ "$(control "logoff alice")" == "ok" ]] || fail "logoff refused"
    wait_for 's["state"] == "ended"'
    for _ in $(seq 100); do kill -0 "$client_pid" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$client_pid" 2>/dev/null || fail "the client stayed connected to an ended session"
    [[ "$(control "logoff alice")" == error:* ]] || fail "a second logoff succeeded"
    start_client third /u:alice "/p:wonder land"
    wait_for 'len(r["sessions"]) == 2 and s["state"] == "connected"'
    [[ "$(report 's["session_id"]')" != "$id" ]] || fail "a logon after logoff reused the ended session"
    stop_client
    ;;

  clipboard_is_offered_and_channels_recorded)
    start_xvfb
    start_desktop --clipboard-text "secret research data"
    start_client clip /u:alice "/p:wonder land" +clipboard
    wait_for 's is not None and s["clipboard"]["offer_acknowledged"]'
    [[ "$(report 's["channels"]["cliprdr"]["joined"] and s["channels"]["cliprdr"]["bytes_in"] > 0')" == "True" ]] ||
      fail "cliprdr not recorded: $(report 's["channels"]')"
    [[ "$(report 's["clipboard"]["text_offered"]')" == "True" ]] || fail "text not offered"
    # The other channels xfreerdp joins by default, and the device redirection handshake.
    for channel in rdpdr rdpsnd drdynvc; do
      [[ "$(report "s['channels']['$channel']['joined']")" == "True" ]] || fail "$channel not joined"
    done
    wait_for 's["channels"]["rdpdr"]["bytes_in"] > 0'
    [[ "$(report 's["channels"]["URBDRC"]["kind"]')" == "dynamic" ]] || fail "USB not offered on drdynvc"
    stop_client
    wait_for 's["state"] == "disconnected"'

    # Without the clipboard the channel is not even requested: the report says so.
    control "logoff alice" >/dev/null
    start_client noclip /u:alice "/p:wonder land" -clipboard
    wait_for 'len(r["sessions"]) == 2 and s["state"] == "connected" and s["frames_sent"] > 0'
    [[ "$(report '"cliprdr" not in s["channels"] and not s["clipboard"]["text_offered"]')" == "True" ]] ||
      fail "cliprdr recorded without +clipboard: $(report 's["channels"]')"
    stop_client
    ;;

  refuses_bad_options)
    expect_refusal() {
      local expected=$1
      shift
      set +e
      message=$("$desktop" "$@" 2>&1 </dev/null)
      status=$?
      set -e
      [[ $status -ne 0 ]] || fail "accepted: $*"
      grep -qi -- "$expected" <<<"$message" || fail "for '$*' expected '$expected' in: $message"
    }
    printf 'no colon here\n' > "$work/bad-users"
    printf -- '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n' > "$work/bad.pem"
    expect_refusal "--users is required" --port 0
    expect_refusal "--users" --port 0 --users "$work/missing"
    expect_refusal "line 1 is not user:password" --port 0 --users "$work/bad-users"
    expect_refusal "--port" --port 70000 --users "$work/users"
    expect_refusal "--port" --port abc --users "$work/users"
    expect_refusal "--key" --port 0 --users "$work/users" --cert "$work/bad.pem"
    expect_refusal "--cert" --port 0 --users "$work/users" --cert "$work/bad.pem" --key "$work/bad.pem"
    expect_refusal "--nope" --port 0 --users "$work/users" --nope
    # A port in use: the error names it.
    start_desktop
    expect_refusal "cannot listen on 127.0.0.1:$port" --port "$port" --users "$work/users"
    ;;

  *)
    fail "unknown case $1"
    ;;
esac
echo "ok: $1"
