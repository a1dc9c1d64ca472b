#!/usr/bin/env bash
# tools/with-card's contract: COMMAND's exit status, a private pcscd that is stopped afterwards
# (and only it), a state file that survives runs, and refusals that are clear.
source "$(dirname "$0")/../../peers/lib.sh"
case "${1:?which case}" in
  exit_status)
    set +e
    "$top/tools/with-card" -- sh -c 'exit 7'
    status=$?
    set -e
    [[ $status -eq 7 ]] || fail "expected COMMAND's status 7, got $status"
    ;;
  private_daemon_stopped_after)
    info=$("$top/tools/with-card" -- sh -c 'echo "$PCSCLITE_CSOCK_NAME $SDBOX_CARD_DIR"; test -S "$PCSCLITE_CSOCK_NAME"')
    read -r socket directory <<<"$info"
    [[ "$socket" == /tmp/sdbox-card.*/pcscd.comm ]] || fail "socket $socket is not private"
    [[ ! -e "$directory" ]] || fail "private directory $directory left behind"
    ! pgrep -f -- "--config $directory/" >/dev/null || fail "pcscd of $directory still running"
    ! pgrep -f -- "--state $directory/card.json" >/dev/null || fail "softcard of $directory still running"
    ;;
  state_survives_runs)
    work=$(mktemp -d /tmp/sdbox-wc.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    "$top/tools/with-card" --demo --state "$work/card.json" -- \
      sh -c "echo 000000 | '$SDBOX_BUILD_DIR/firmware/sdbox-firmware' card-sign" >/dev/null 2>&1 || true
    output=$("$top/tools/with-card" --state "$work/card.json" -- "$SDBOX_BUILD_DIR/firmware/sdbox-firmware" card-status)
    grep -q "PIN: 2 tries left" <<<"$output" || fail "spent try lost across runs: $output"
    ;;
  demo_refuses_existing_state)
    work=$(mktemp -d /tmp/sdbox-wc.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    echo '{}' > "$work/card.json"
    mkdir "$work/tmp"
    set +e
    message=$(TMPDIR="$work/tmp" "$top/tools/with-card" --demo --state "$work/card.json" -- true 2>&1)
    status=$?
    set -e
    [[ $status -ne 0 ]] || fail "--demo over an existing card must be refused"
    grep -q "already exists" <<<"$message" || fail "unclear refusal: $message"
    [[ "$(cat "$work/card.json")" == "{}" ]] || fail "existing state was modified"
    [[ -z "$(ls -A "$work/tmp")" ]] || fail "a private directory was left behind"
    ;;
  corrupt_state_is_refused)
    work=$(mktemp -d /tmp/sdbox-wc.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    echo 'not json' > "$work/card.json"
    set +e
    "$top/tools/with-card" --state "$work/card.json" -- true 2>"$work/err"
    status=$?
    set -e
    [[ $status -ne 0 ]] || fail "a corrupt card state must not give a working card"
    [[ "$(cat "$work/card.json")" == "not json" ]] || fail "corrupt state was overwritten"
    grep -q "not a JSON object" "$work/err" || fail "the softcard's reason is not shown: $(cat "$work/err")"
    ;;
  *) fail "unknown case $1" ;;
esac
echo PASS
