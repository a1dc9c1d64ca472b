#!/usr/bin/env bash
# sdbox-broker as a program: it refuses a state directory that is not one, and it republishes the
# CRLs from the store when it starts (a CRL past its next-update date would refuse every box).
source "$(dirname "$0")/../peers/lib.sh"
broker="$SDBOX_BUILD_DIR/broker/sdbox-broker"
ctl() { "$SDBOX_BUILD_DIR/tools/sdboxctl/sdboxctl" --state "$work/state" "$@"; }
work=$(mktemp -d /tmp/sdbox-broker-cli.XXXXXX)
pid=
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
api_port=$(free_port)

case "${1:?which case}" in
  refuses_a_missing_state)
    set +e
    message=$("$broker" --state "$work/nothing" --port "$port" --api-port "$api_port" 2>&1)
    status=$?
    set -e
    [[ $status -ne 0 ]] || fail "started without a state directory"
    grep -q "sdboxctl pki init" <<<"$message" || fail "unclear refusal: $message"
    [[ ! -e "$work/nothing" ]] || fail "it created the state directory"
    ;;
  republishes_crls_at_start)
    ctl pki init >/dev/null
    ctl site add --name paris >/dev/null
    ctl box add --name box-1 --site paris --out "$work/box-1" >/dev/null
    ctl box revoke --name box-1 --reason stolen >/dev/null
    serial=$(openssl x509 -in "$work/box-1/client.crt" -noout -serial | cut -d= -f2)
    rm "$work/state/pki/boxes.crl"
    "$broker" --state "$work/state" --port "$port" --api-port "$api_port" 2>"$work/broker.log" &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$work/broker.log" && break; sleep 0.05; done
    grep -q listening "$work/broker.log" || fail "the broker did not start: $(cat "$work/broker.log")"
    [[ -f "$work/state/pki/boxes.crl" ]] || fail "boxes.crl was not republished"
    openssl crl -in "$work/state/pki/boxes.crl" -noout -text | grep -qi "$serial" || fail "the revoked box is not listed"
    ;;
  *) fail "unknown case $1" ;;
esac
echo PASS
