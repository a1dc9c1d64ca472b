#!/usr/bin/env bash
# sdboxctl's admin verbs through a real sdbox-broker's admin API (--broker, --staff): they print
# what the same verbs print on the broker host, a box bundle written from the API's answer is one
# the boxes CA issued, refusals exit like local ones, verbs that run in one place only say so, and
# a card issued on the softcard is certified by the broker.
source "$(dirname "$0")/../../peers/lib.sh"
sdboxctl="$SDBOX_BUILD_DIR/tools/sdboxctl/sdboxctl"
broker="$SDBOX_BUILD_DIR/broker/sdbox-broker"
work=$(mktemp -d /tmp/sdbox-ctl-remote.XXXXXX)
broker_pid=
trap '[[ -n "$broker_pid" ]] && kill "$broker_pid" 2>/dev/null; rm -rf "$work"' EXIT
state=$work/state
pki=$state/pki
unset SDBOX_STATE SDBOX_BROKER SDBOX_STAFF
ctl() { "$sdboxctl" --state "$state" "$@"; }

# refused EXPECTED_STATUS MESSAGE_PART COMMAND...: COMMAND fails with that status and says MESSAGE_PART.
refused() {
  local expected=$1 part=$2
  shift 2
  set +e
  message=$("$@" 2>&1 >/dev/null)
  local status=$?
  set -e
  [[ $status -eq $expected ]] || fail "'$*' exited $status, expected $expected ($message)"
  grep -qF -- "$part" <<<"$message" || fail "'$*' said '$message', expected it to name '$part'"
  [[ $(wc -l <<<"$message") -eq 1 && "$message" == sdboxctl:* ]] || fail "'$*': not one 'sdboxctl: ' line: $message"
}

# json_check JSON PYTHON_EXPRESSION: the expression over `d` (the parsed JSON) is true.
json_check() {
  python3 -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" ||
    fail "JSON check failed: $2 on $1"
}

# json_pair_check LOCAL_JSON REMOTE_JSON PYTHON_EXPRESSION: the expression over `l` and `r` is true.
json_pair_check() {
  python3 -c 'import json, sys; l, r = json.loads(sys.argv[1]), json.loads(sys.argv[2]); sys.exit(0 if eval(sys.argv[3]) else 1)' \
    "$1" "$2" "$3" || fail "JSON check failed: $3 on $1 and $2"
}

# same LABEL A B: both outputs are the same text.
same() { [[ "$2" == "$3" ]] || fail "$1 differs through the broker:"$'\n'"local:"$'\n'"$2"$'\n'"remote:"$'\n'"$3"; }

# A state with three members of staff, and the broker on it with ports the kernel chose.
start_broker() {
  ctl pki init >/dev/null
  ctl staff add --name root --role admin --out "$work/root" >/dev/null
  ctl staff add --name olga --role ops --out "$work/olga" >/dev/null
  ctl staff add --name audrey --role auditor --out "$work/audrey" >/dev/null
  : >"$work/broker.log"
  "$broker" --state "$state" --port 0 --api-port 0 --log-level info 2>"$work/broker.log" &
  broker_pid=$!
  for _ in $(seq 200); do grep -q "admin API listening" "$work/broker.log" && break; sleep 0.05; done
  api_port=$(sed -n 's/.*admin API listening .*port=\([0-9]*\).*/\1/p' "$work/broker.log")
  [[ -n "$api_port" && "$api_port" -ne 0 ]] || fail "the broker did not start: $(cat "$work/broker.log")"
  url="https://127.0.0.1:$api_port"
}
as() { local who=$1; shift; "$sdboxctl" --broker "$url" --staff "$work/$who" "$@"; }
remote() { as root "$@"; }

case "${1:?which case}" in
  remote_verbs_print_what_local_ones_print)
    start_broker
    remote site add --name lyon | grep -qx "site 'lyon' added" || fail "remote site add said something else"
    remote site add --name paris >/dev/null
    same "site list --json" "$(ctl site list --json)" "$(remote site list --json)"
    same "site list" "$(ctl site list)" "$(remote site list)"
    json_check "$(remote site list --json)" "[s['name'] for s in d] == ['lyon', 'paris']"

    remote user add --login alice --name "Alice Martin" | grep -qxF "user 'alice' (Alice Martin) added" ||
      fail "remote user add said something else"
    remote project add --name census --title "Census 2021 microdata" >/dev/null
    remote member add --user alice --project census --from 2026-01-01 --until 2026-12-31 >/dev/null
    remote member add --user alice --project census --from 2027-01-01 --until 2027-03-31 >/dev/null
    remote desktop set --project census --host 10.0.0.6 --port 3389 --certificate-sha256 "$(printf 'AB:%.0s' {1..31})AB" \
      --logoff unix:/run/desktop.sock | grep -qxF "desktop of 'census': 10.0.0.6:3389 (certificate pinned)" ||
      fail "remote desktop set said something else"
    printf 'desktop pw\n' >"$work/pw"
    remote desktop account --project census --user alice --login amartin --password-file "$work/pw" |
      grep -qxF "desktop account of 'alice' on 'census': amartin" || fail "remote desktop account said something else"
    remote member end --id 2 --reason "project extension cancelled" |
      grep -qxF "membership 2 of 'alice' in 'census' ended" || fail "remote member end said something else"
    for listing in user project member desktop card; do
      same "$listing list --json" "$(ctl $listing list --json)" "$(remote $listing list --json)"
      same "$listing list" "$(ctl $listing list)" "$(remote $listing list)"
    done
    json_check "$(remote member list --json)" "[m['ended'] for m in d] == [False, True] and d[1]['end_reason'] == 'project extension cancelled'"
    json_check "$(remote desktop list --json)" "d[0]['certificate_sha256'] == 'ab' * 32 and d[0]['logoff_endpoint'] == 'unix:/run/desktop.sock'"
    ! remote audit list --json | grep -q "desktop pw" || fail "a desktop password reached the audit trail"

    # A box: the bundle is written from the API's answer, as the local verb writes it.
    said=$(remote box add --name box-1 --site paris --out "$work/box-1" --days 30)
    grep -qE "^box 'box-1' added at site 'paris': certificate serial [0-9a-f]+, valid until [0-9]{4}-[0-9]{2}-[0-9]{2}$" <<<"$said" ||
      fail "remote box add said: $said"
    grep -qxF "bundle in $work/box-1: client.crt, client.key (secret: copy it onto the box only), broker-ca.crt" <<<"$said" ||
      fail "remote box add said: $said"
    [[ $(stat -c %a "$work/box-1/client.key") == 600 ]] || fail "the box key is not private"
    [[ $(stat -c %a "$work/box-1") == 700 ]] || fail "the bundle directory is not private"
    openssl verify -CAfile "$pki/boxes-ca/ca.crt" "$work/box-1/client.crt" | grep -q ': OK$' ||
      fail "the box certificate does not verify against the boxes CA"
    openssl x509 -in "$work/box-1/client.crt" -noout -subject | grep -q "CN *= *box-1" || fail "box certificate CN"
    cmp -s "$work/box-1/broker-ca.crt" "$pki/boxes-ca/ca.crt" || fail "broker-ca.crt is not the boxes CA"
    openssl pkey -in "$work/box-1/client.key" -pubout | cmp -s - <(openssl x509 -in "$work/box-1/client.crt" -noout -pubkey) ||
      fail "client.key does not belong to client.crt"
    serial=$(openssl x509 -in "$work/box-1/client.crt" -noout -serial | cut -d= -f2)
    json_check "$(remote box list --json)" "[b['certificate_serial'].upper() for b in d if b['name'] == 'box-1'] == ['$serial']"
    grep -qF "serial ${serial,,}," <<<"$said" || fail "remote box add printed another serial than client.crt's $serial"
    same "box list" "$(ctl box list)" "$(remote box list)"
    # The API's boxes are live views: the stored record and whether the box is online.
    json_pair_check "$(ctl box list --json)" "$(remote box list --json)" \
      "[dict(b, online=None, peer=None) for b in r] == [dict(b, online=None, peer=None) for b in l] and r[0]['online'] is False"
    json_check "$(remote session list --json)" "d == []"
    remote session list | grep -qxE "ID +USER +BOX +SITE +PROJECT +STATE +SINCE" || fail "remote session list columns: $(remote session list)"
    json_check "$(remote alert list --json)" "d == []"

    # The audit trail reads the same from both sides (the API audits each call after answering it).
    local_audit=$(ctl audit list --json)
    same "audit list --json" "$local_audit" "$(remote audit list --json)"
    local_audit=$(ctl audit list --json --action site. --limit 5000)
    same "audit list --json --action site." "$local_audit" "$(remote audit list --json --action site. --limit 5000)"
    local_audit=$(ctl audit list --json --after 3 --limit 2)
    same "audit list --json --after 3 --limit 2" "$local_audit" "$(remote audit list --json --after 3 --limit 2)"
    local_audit=$(ctl audit list)
    same "audit list" "$local_audit" "$(remote audit list)"
    json_check "$(ctl audit list --json --action site.add)" "[r['actor'] for r in d] == ['staff:root', 'staff:root']"
    local_verdict=$(ctl audit verify --json)
    same "audit verify --json" "$local_verdict" "$(remote audit verify --json)"
    json_check "$local_verdict" "d['intact'] is True and len(d['head']) == 64"
    local_verdict=$(ctl audit verify)
    same "audit verify" "$local_verdict" "$(remote audit verify)"
    # An auditor reads the trail too; ops may only verify it.
    local_verdict=$(ctl audit verify --json)
    same "the auditor's audit verify --json" "$local_verdict" "$(as audrey audit verify --json)"
    as olga audit verify >/dev/null || fail "ops cannot verify the audit chain"

    # $SDBOX_BROKER and $SDBOX_STAFF stand in for --broker and --staff; an explicit --state wins.
    json_check "$(SDBOX_BROKER=$url SDBOX_STAFF=$work/root "$sdboxctl" site list --json)" "len(d) == 2"
    json_check "$(SDBOX_BROKER=$url "$sdboxctl" --staff "$work/root" user list --json)" "len(d) == 1"
    SDBOX_BROKER=https://127.0.0.1:1 "$sdboxctl" --state "$state" site list >/dev/null || fail "--state did not win over \$SDBOX_BROKER"
    ;;

  remote_refusals_exit_like_local_ones)
    start_broker
    remote site add --name lyon >/dev/null
    remote user add --login alice --name "Alice Martin" >/dev/null
    remote project add --name census --title "Census" >/dev/null
    ctl box add --name box-1 --site lyon --out "$work/box-1" >/dev/null
    sites_before=$(ctl site list --json)
    boxes_before=$(ctl box list --json)

    # Refused by the broker (exit 1), as the local store refuses.
    refused 1 "the ops role may not POST /api/v1/sites" as olga site add --name paris
    refused 1 "the auditor role may not POST /api/v1/sessions/1/end" as audrey session end --id 1 --reason "incident 7"
    refused 1 "the ops role may not GET /api/v1/audit" as olga audit list
    refused 1 "no session 99" remote session end --id 99 --reason "incident 7"
    refused 1 "a site named 'lyon' exists already" remote site add --name lyon
    refused 1 "no site named 'nowhere'" remote box add --name box-2 --site nowhere --out "$work/box-2"
    [[ ! -e "$work/box-2" ]] || fail "a refused remote box add left $work/box-2"
    refused 1 "a box named 'box-1' exists already" remote box add --name box-1 --site lyon --out "$work/again/box-1"
    [[ ! -e "$work/again" ]] || fail "a refused remote box add left $work/again"
    mkdir "$work/full" && touch "$work/full/keep-me"
    refused 1 "is not empty" remote box add --name box-3 --site lyon --out "$work/full"
    [[ "$(ls "$work/full")" == keep-me ]] || fail "a refused remote box add wrote into a full directory"
    refused 1 "before it starts" remote member add --user alice --project census --from 2026-05-01 --until 2026-04-30
    refused 1 "no user named 'bob'" remote member add --user bob --project census --from 2026-01-01 --until 2026-01-31
    refused 1 "no card with certificate serial deadbeef" remote card suspend --serial DE:AD:BE:EF --reason lost
    refused 1 "user 'alice' has no card that is not revoked" remote card suspend --user alice --reason lost
    refused 1 "no box named 'box-9'" remote box revoke --name box-9 --reason lost

    # Usage errors (exit 2): the command line, a malformed value, a verb that runs elsewhere.
    refused 2 "" remote no-such-verb
    refused 2 "--bogus" remote site add --name paris --bogus
    refused 2 "'2026-02-30' is not a date" remote member add --user alice --project census --from 2026-02-30 --until 2026-03-31
    refused 2 "not a certificate serial" remote card suspend --serial xyz --reason lost
    refused 2 "--serial HEX or with --user LOGIN" remote card reinstate --reason found
    refused 2 "needs --reason" remote card reinstate --serial deadbeef
    refused 2 "'staff add' runs on the broker host only (it handles the CAs' keys)" \
      remote staff add --name eve --role admin --out "$work/eve"
    [[ ! -e "$work/eve" ]] || fail "a refused remote staff add left $work/eve"
    refused 2 "'staff revoke' runs on the broker host only" remote staff revoke --name olga --reason left
    refused 2 "'staff list' runs on the broker host only" remote staff list
    refused 2 "'pki refresh-crl' runs on the broker host only (it handles the CAs' keys)" remote pki refresh-crl
    refused 2 "'pki init' runs on the broker host only" remote pki init
    refused 2 "'session end' needs --broker: the broker logs the desktop session off" ctl session end --id 1 --reason x
    refused 2 "'session end' needs --broker" "$sdboxctl" --state "$work/nothing" session end --id 1 --reason x
    refused 2 "'alert list' needs --broker" ctl alert list
    refused 2 "not both" "$sdboxctl" --state "$state" --broker "$url" --staff "$work/root" site list
    refused 2 "--broker needs --staff" "$sdboxctl" --broker "$url" site list
    refused 2 "https://" "$sdboxctl" --broker "http://127.0.0.1:$api_port" --staff "$work/root" site list
    refused 3 "client.crt" "$sdboxctl" --broker "$url" --staff "$work/nobody" site list

    # The broker out of reach (exit 3): a port nothing listens on.
    closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    refused 3 "127.0.0.1" "$sdboxctl" --broker "https://127.0.0.1:$closed_port" --staff "$work/root" site list
    kill "$broker_pid"
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=
    refused 3 "127.0.0.1:$api_port" remote site add --name paris

    [[ "$(ctl site list --json)" == "$sites_before" ]] || fail "the sites changed: $(ctl site list --json)"
    [[ "$(ctl box list --json)" == "$boxes_before" ]] || fail "the boxes changed: $(ctl box list --json)"
    json_check "$(ctl member list --json)" "d == []"
    json_check "$(ctl audit list --json --action api.request)" \
      "any(r['actor'] == 'staff:olga' and r['outcome'] == 'refused' and r['details']['target'] == '/api/v1/sites' for r in d)"
    ctl audit verify >/dev/null || fail "the chain broke"
    ;;

  remote_card_issue_on_the_softcard)
    start_broker
    remote user add --login alice --name "Alice Martin" >/dev/null
    # Inside one private pcscd with a factory-fresh softcard: an unknown user is refused before
    # the card is touched (the issue for alice then still works with the factory PIN and PUK).
    "$top/tools/with-card" --state "$work/card.json" -- bash -c '
      set -e
      if "$0" --broker "$1" --staff "$2/root" card issue --user nobody --pin 123456 --puk 12345678 2>"$2/nobody.err"; then
        echo "issued a card to nobody" >&2; exit 1
      fi
      "$0" --broker "$1" --staff "$2/root" card issue --user alice --pin 654321 --puk 87654321 --days 30 >"$2/issue.out"
    ' "$sdboxctl" "$url" "$work" || fail "remote card issue under with-card failed: $(cat "$work"/*.err "$work/issue.out" 2>/dev/null)"
    grep -q "no user 'nobody'" "$work/nobody.err" || fail "unclear refusal: $(cat "$work/nobody.err")"
    grep -qE "^card issued to 'alice' \(Alice Martin\): certificate serial [0-9a-f]+, valid until [0-9-]{10}$" "$work/issue.out" ||
      fail "remote card issue said: $(cat "$work/issue.out")"

    cards=$(remote card list --json)
    same "card list --json" "$(ctl card list --json)" "$cards"
    json_check "$cards" "len(d) == 1 and d[0]['user'] == 'alice' and d[0]['state'] == 'active' and len(d[0]['certificate_sha256']) == 64"
    serial=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])[0]["certificate_serial"])' "$cards")
    grep -q "$serial" "$work/issue.out" || fail "card issue did not print the serial $serial"
    json_check "$(ctl audit list --json --action card.issue)" "[(r['actor'], r['details']['user']) for r in d] == [('staff:root', 'alice')]"
    # The certificate on the card is the one the broker registered, issued by the users CA for the
    # card's own key, valid --days.
    "$top/tools/with-card" --state "$work/card.json" -- \
      yubico-piv-tool -a read-certificate -s 9a -o "$work/card.crt" >/dev/null 2>&1 ||
      fail "cannot read the certificate back from the card"
    openssl verify -CAfile "$pki/users-ca/ca.crt" "$work/card.crt" | grep -q ': OK$' || fail "the card certificate is not from the users CA"
    [[ $(openssl x509 -in "$work/card.crt" -noout -serial | cut -d= -f2) == "${serial^^}" ]] ||
      fail "the card holds another certificate than the registered one"
    openssl x509 -in "$work/card.crt" -noout -subject | grep -q "CN *= *Alice Martin" || fail "card holder name"
    openssl x509 -in "$work/card.crt" -noout -checkend $((31 * 86400)) >/dev/null && fail "--days 30 was not used"

    # Ops suspend a lost card; only an admin reinstates or revokes it.
    as olga card suspend --serial "${serial^^}" --reason "reported lost" | grep -qxF "card $serial of 'alice' is now suspended" ||
      fail "ops could not suspend the card"
    same "card list" "$(ctl card list)" "$(remote card list)"
    json_check "$(remote card list --json)" "[(c['state'], c['state_reason']) for c in d] == [('suspended', 'reported lost')]"
    refused 1 "the ops role may not POST" as olga card reinstate --serial "$serial" --reason found
    remote card reinstate --serial "$serial" --reason "found in the lab" >/dev/null
    json_check "$(ctl card list --json)" "[c['state'] for c in d] == ['active']"
    remote card revoke --user alice --reason "left the institute" >/dev/null
    json_check "$(ctl card list --json)" "[c['state'] for c in d] == ['revoked']"
    openssl crl -in "$pki/users.crl" -noout -text | grep -qi "Serial Number: *$serial" || fail "users.crl does not list $serial"
    refused 1 "revoked, which is final" remote card reinstate --serial "$serial" --reason oops
    json_check "$(ctl audit list --json --action card.)" \
      "[(r['action'], r['actor']) for r in d] == [('card.issue', 'staff:root'), ('card.suspend', 'staff:olga'), ('card.reinstate', 'staff:root'), ('card.revoke', 'staff:root')]"
    ctl audit verify >/dev/null || fail "the chain broke"
    ;;

  *) fail "unknown case $1" ;;
esac
echo PASS
