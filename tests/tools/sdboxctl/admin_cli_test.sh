#!/usr/bin/env bash
# sdboxctl's admin verbs against a real state directory: certificates that OpenSSL accepts (and
# refuses once revoked), listings as JSON, an audit chain that catches edits made behind the
# store's back with the sqlite3 shell, refusals that change nothing, and a card issued on the
# softcard through a private pcscd, then suspended, reinstated and revoked.
source "$(dirname "$0")/../../peers/lib.sh"
sdboxctl="$SDBOX_BUILD_DIR/tools/sdboxctl/sdboxctl"
work=$(mktemp -d /tmp/sdbox-ctl.XXXXXX)
trap 'rm -rf "$work"' EXIT
state=$work/state
pki=$state/pki
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

audit_count() { ctl audit list --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }

case "${1:?which case}" in
  pki_certificates_verify_with_openssl)
    ctl pki init --server-name DNS:broker.example --server-name IP:10.1.2.3 >/dev/null
    for file in boxes-ca/ca.crt boxes-ca/ca.key users-ca/ca.crt users-ca/ca.key staff-ca/ca.crt staff-ca/ca.key \
                server.crt server.key boxes.crl users.crl; do
      [[ -s "$pki/$file" ]] || fail "pki init did not write $file"
    done
    [[ $(stat -c %a "$pki/boxes-ca/ca.key") == 600 ]] || fail "the boxes CA key is not private"
    openssl verify -CAfile "$pki/boxes-ca/ca.crt" "$pki/server.crt" | grep -q ': OK$' ||
      fail "the server certificate does not verify against the boxes CA"
    names=$(openssl x509 -in "$pki/server.crt" -noout -ext subjectAltName)
    grep -q "DNS:broker.example" <<<"$names" && grep -q "IP Address:10.1.2.3" <<<"$names" ||
      fail "the server certificate lacks the names asked for: $names"
    ! grep -q "localhost" <<<"$names" || fail "the default names were kept beside the ones asked for: $names"

    ctl site add --name lyon >/dev/null
    ctl box add --name box-7 --site lyon --out "$work/box-7" >/dev/null
    ctl box add --name box-8 --site lyon --out "$work/box-8" >/dev/null
    openssl verify -CAfile "$pki/boxes-ca/ca.crt" "$work/box-7/client.crt" | grep -q ': OK$' ||
      fail "the box certificate does not verify against the boxes CA"
    openssl x509 -in "$work/box-7/client.crt" -noout -subject | grep -q "CN *= *box-7" || fail "box certificate CN"
    cmp -s "$work/box-7/broker-ca.crt" "$pki/boxes-ca/ca.crt" || fail "broker-ca.crt is not the boxes CA"
    [[ $(stat -c %a "$work/box-7/client.key") == 600 ]] || fail "the box key is not private"
    serial=$(openssl x509 -in "$work/box-7/client.crt" -noout -serial | cut -d= -f2)
    listed=$(ctl box list --json)
    json_check "$listed" "[b['certificate_serial'].upper() for b in d if b['name'] == 'box-7'] == ['$serial']"

    ctl box revoke --name box-7 --reason "stolen from the lab" >/dev/null
    set +e
    verdict=$(openssl verify -crl_check -CRLfile "$pki/boxes.crl" -CAfile "$pki/boxes-ca/ca.crt" \
      "$work/box-7/client.crt" 2>&1)
    status=$?
    set -e
    [[ $status -ne 0 ]] && grep -q "certificate revoked" <<<"$verdict" || fail "revoked box still verifies: $verdict"
    openssl verify -crl_check -CRLfile "$pki/boxes.crl" -CAfile "$pki/boxes-ca/ca.crt" "$work/box-8/client.crt" |
      grep -q ': OK$' || fail "box-8 was not revoked but no longer verifies with the CRL"
    json_check "$(ctl box list --json)" \
      "[(b['state'], b['state_reason']) for b in d if b['name'] == 'box-7'] == [('revoked', 'stolen from the lab')]"

    (cd "$pki" && find . -type f | sort | xargs sha256sum) >"$work/pki.sums"
    records=$(audit_count)
    refused 1 "already holds a PKI" ctl pki init
    (cd "$pki" && sha256sum -c --quiet "$work/pki.sums") || fail "a second pki init changed the PKI"
    [[ $(cd "$pki" && find . -type f | wc -l) -eq $(wc -l <"$work/pki.sums") ]] || fail "a second pki init added files"
    [[ $(audit_count) -eq $records ]] || fail "a refused pki init was audited as a change"
    ;;

  admin_flow_lists_as_json)
    ctl pki init >/dev/null
    openssl x509 -in "$pki/server.crt" -noout -ext subjectAltName | grep -q "DNS:localhost, IP Address:127.0.0.1" ||
      fail "default server names"
    json_check "$(ctl site list --json)" "d == []"
    ctl site add --name lyon >/dev/null
    ctl site add --name paris >/dev/null
    ctl user add --login alice --name "Alice Martin" >/dev/null
    ctl user add --login bob --name "Bob Durand" >/dev/null
    ctl project add --name census --title "Census 2021 microdata" >/dev/null
    ctl member add --user alice --project census --from 2026-01-01 --until 2026-12-31 >/dev/null
    ctl member add --user bob --project census --from 2026-03-01 --until 2026-03-01 >/dev/null
    ctl desktop set --project census --host 10.0.0.5 --port 3390 >/dev/null
    ctl desktop set --project census --host 10.0.0.6 --port 3389 >/dev/null  # replaces the first
    ctl box add --name box-1 --site paris --out "$work/box-1" --days 30 >/dev/null
    time_pattern='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

    json_check "$(ctl site list --json)" \
      "[s['name'] for s in d] == ['lyon', 'paris'] and all(__import__('re').match(r'$time_pattern', s['created_at']) for s in d)"
    json_check "$(ctl user list --json)" \
      "[(u['login'], u['full_name'], u['state']) for u in d] == [('alice', 'Alice Martin', 'active'), ('bob', 'Bob Durand', 'active')]"
    json_check "$(ctl project list --json)" "[(p['name'], p['title']) for p in d] == [('census', 'Census 2021 microdata')]"
    json_check "$(ctl member list --json)" \
      "[(m['user'], m['project'], m['from'], m['until']) for m in d] == [('alice', 'census', '2026-01-01', '2026-12-31'), ('bob', 'census', '2026-03-01', '2026-03-01')]"
    json_check "$(ctl desktop list --json)" "d == [{'project': 'census', 'host': '10.0.0.6', 'port': 3389, 'certificate_sha256': '', 'logoff_endpoint': ''}]"
    json_check "$(ctl box list --json)" \
      "[(b['name'], b['site'], b['state'], len(b['certificate_sha256'])) for b in d] == [('box-1', 'paris', 'active', 64)]"
    json_check "$(ctl card list --json)" "d == []"
    json_check "$(ctl session list --json)" "d == []"
    me=$(id -un)
    audit=$(ctl audit list --json)
    json_check "$audit" \
      "[r['action'] for r in d] == ['pki.init', 'site.add', 'site.add', 'user.add', 'user.add', 'project.add', 'member.add', 'member.add', 'desktop.set', 'desktop.set', 'box.add']"
    json_check "$audit" "all(r['actor'] == 'local:$me' and r['outcome'] == 'ok' for r in d)"
    json_check "$audit" "[r['sequence'] for r in d] == list(range(1, 12)) and all(len(r['hash']) == 64 for r in d)"
    json_check "$audit" "d[1]['previous_hash'] == d[0]['hash'] and d[6]['details'] == {'user': 'alice', 'project': 'census', 'from': '2026-01-01', 'until': '2026-12-31'}"
    json_check "$(ctl audit list --json --action member.)" "[r['sequence'] for r in d] == [7, 8]"
    json_check "$(ctl audit list --json --after 9 --limit 1)" "[r['action'] for r in d] == ['desktop.set']"
    # The text listing is for people, but it lists the same things.
    ctl member list | grep -qE '^2 +bob +census +2026-03-01 +2026-03-01 +-$' || fail "text member list: $(ctl member list)"
    # --state may follow the verb, and SDBOX_STATE stands in for it.
    json_check "$("$sdboxctl" site list --json --state "$state")" "len(d) == 2"
    json_check "$(SDBOX_STATE=$state "$sdboxctl" user list --json)" "len(d) == 2"
    # Desktop accounts: the gateway logs in with them; their password never shows anywhere.
    printf 'desktop pw 1\n' > "$work/pw"
    ctl desktop set --project census --host 10.0.0.6 --port 3389 --certificate-sha256 "$(printf 'AB:%.0s' {1..31})AB" >/dev/null
    ctl desktop account --project census --user alice --login amartin --password-file "$work/pw" >/dev/null
    echo "desktop pw 2" | ctl desktop account --project census --user bob --password-file - >/dev/null
    json_check "$(ctl desktop list --json)" "d[0]['certificate_sha256'] == 'ab' * 32"
    json_check "$(ctl audit list --json --action desktop.account)" \
      "[r['details'] for r in d] == [{'project': 'census', 'user': 'alice', 'login': 'amartin'}, {'project': 'census', 'user': 'bob', 'login': 'bob'}]"
    ! ctl audit list --json | grep -q "desktop pw" || fail "a desktop password reached the audit trail"
    ! ctl desktop list | grep -q "desktop pw" || fail "a desktop password is listed"
    ;;

  audit_verify_catches_a_sqlite3_edit)
    ctl pki init >/dev/null
    ctl site add --name lyon >/dev/null
    ctl user add --login alice --name "Alice Martin" >/dev/null
    ctl project add --name census --title "Census" >/dev/null
    ctl member add --user alice --project census --from 2026-01-01 --until 2026-06-30 >/dev/null
    cp "$state/broker.db" "$work/pristine.db"  # closed cleanly: the WAL is checkpointed into it
    verdict=$(ctl audit verify) || fail "a clean chain does not verify: $verdict"
    grep -qE "^audit chain intact: 5 records, head [0-9a-f]{64}$" <<<"$verdict" || fail "verdict: $verdict"
    json_check "$(ctl audit verify --json)" "d['intact'] is True and d['records'] == 5 and d['problems'] == [] and len(d['head']) == 64"

    # The append-only triggers stop a careless edit...
    ! sqlite3 "$state/broker.db" "UPDATE audit SET actor='local:mallory' WHERE sequence=2;" 2>/dev/null ||
      fail "the audit table took an UPDATE"
    # ...and the hash chain catches a deliberate one.
    sqlite3 "$state/broker.db" "DROP TRIGGER audit_is_append_only_update; UPDATE audit SET actor='local:mallory' WHERE sequence=2;"
    set +e
    verdict=$(ctl audit verify 2>&1)
    status=$?
    set -e
    [[ $status -eq 1 ]] || fail "an edited record: audit verify exited $status: $verdict"
    grep -q "record 2: content does not match its hash" <<<"$verdict" || fail "record 2 not named: $verdict"
    ! grep -q "record [345]" <<<"$verdict" || fail "untouched records blamed: $verdict"
    set +e
    verdict=$(ctl audit verify --json)
    status=$?
    set -e
    [[ $status -eq 1 ]] || fail "audit verify --json exited $status"
    json_check "$verdict" "d['intact'] is False and d['records'] == 5 and any('record 2' in p for p in d['problems'])"

    # A record deleted from the middle.
    cp "$work/pristine.db" "$state/broker.db"
    ctl audit verify >/dev/null || fail "the restored store does not verify"
    sqlite3 "$state/broker.db" "DROP TRIGGER audit_is_append_only_delete; DELETE FROM audit WHERE sequence=3;"
    set +e
    verdict=$(ctl audit verify 2>&1)
    status=$?
    set -e
    [[ $status -eq 1 ]] || fail "a deleted record: audit verify exited $status: $verdict"
    grep -q "record 4 follows record 2" <<<"$verdict" || fail "the gap is not named: $verdict"
    grep -q "audit chain BROKEN: 4 records" <<<"$verdict" || fail "verdict: $verdict"
    ;;

  bad_input_changes_nothing)
    ctl pki init >/dev/null
    ctl site add --name lyon >/dev/null
    ctl box add --name box-1 --site lyon --out "$work/box-1" >/dev/null
    ctl user add --login alice --name "Alice Martin" >/dev/null
    ctl project add --name census --title "Census" >/dev/null
    boxes_before=$(ctl box list --json)
    records_before=$(audit_count)
    crl_before=$(sha256sum <"$pki/boxes.crl")

    refused 1 "no site named 'nowhere'" ctl box add --name box-2 --site nowhere --out "$work/box-2"
    [[ ! -e "$work/box-2" ]] || fail "a refused box add left $work/box-2"
    refused 1 "a box named 'box-1' exists already" ctl box add --name box-1 --site lyon --out "$work/again/box-1"
    [[ ! -e "$work/again" ]] || fail "a refused box add left $work/again"
    mkdir "$work/full" && touch "$work/full/keep-me"
    refused 1 "is not empty" ctl box add --name box-3 --site lyon --out "$work/full"
    [[ "$(ls "$work/full")" == keep-me ]] || fail "a refused box add wrote into a full directory"
    refused 2 "'2026-02-30' is not a date" ctl member add --user alice --project census --from 2026-02-30 --until 2026-03-31
    refused 1 "before it starts" ctl member add --user alice --project census --from 2026-05-01 --until 2026-04-30
    refused 2 "70000" ctl desktop set --project census --host 10.0.0.5 --port 70000
    refused 1 "no project named 'atlas'" ctl desktop set --project atlas --host 10.0.0.5 --port 3389
    refused 1 "logoff endpoint is unix:/absolute/path" ctl desktop set --project census --host 10.0.0.5 --port 3389 --logoff tcp://x
    refused 2 "not a SHA-256" ctl desktop set --project census --host 10.0.0.5 --port 3389 --certificate-sha256 xyz
    printf '\n' > "$work/empty-pw"
    refused 2 "password is empty" ctl desktop account --project census --user alice --password-file "$work/empty-pw"
    refused 2 "cannot read --password-file" ctl desktop account --project census --user alice --password-file "$work/none"
    printf 'pw\n' > "$work/pw"
    refused 1 "no user named 'nobody'" ctl desktop account --project census --user nobody --password-file "$work/pw"
    refused 1 "no user named 'bob'" ctl member add --user bob --project census --from 2026-01-01 --until 2026-01-31
    refused 1 "no card with certificate serial deadbeef" ctl card suspend --serial DE:AD:BE:EF
    refused 2 "not a certificate serial" ctl card suspend --serial xyz
    refused 1 "user 'alice' has no card" ctl card revoke --user alice
    refused 2 "--serial HEX or with --user LOGIN" ctl card reinstate
    refused 1 "no box named 'box-9'" ctl box revoke --name box-9 --reason lost
    refused 1 "a site named 'lyon' exists already" ctl site add --name lyon
    refused 1 "a user 'alice' exists already" ctl user add --login alice --name "Another Alice"
    refused 2 "--name is required" ctl site add
    refused 2 "" ctl no-such-verb
    refused 3 "no SD-Box store in $work/elsewhere" "$sdboxctl" --state "$work/elsewhere" site list
    [[ ! -e "$work/elsewhere" ]] || fail "a missing state directory was created"

    # The store refuses only after the certificate was issued: the bundle is removed again.
    sqlite3 "$state/broker.db" \
      "CREATE TRIGGER boxes_frozen BEFORE INSERT ON boxes BEGIN SELECT RAISE(ABORT, 'boxes are frozen'); END;"
    refused 3 "boxes are frozen" ctl box add --name box-4 --site lyon --out "$work/new/box-4"
    [[ ! -e "$work/new" ]] || fail "the bundle of a box the store refused was left in $work/new"
    sqlite3 "$state/broker.db" "DROP TRIGGER boxes_frozen;"
    # A failed pki init leaves nothing: not the state directory it made...
    refused 2 "must start with DNS: or IP:" "$sdboxctl" --state "$work/fresh/state" pki init --server-name broker.example
    [[ ! -e "$work/fresh" ]] || fail "a failed pki init left $work/fresh"
    # ...nor a PKI whose audit record could not be written; and a store that was there stays.
    mkdir "$work/restored"
    cp "$state/broker.db" "$work/restored/broker.db"
    sqlite3 "$work/restored/broker.db" \
      "CREATE TRIGGER audit_frozen BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit is frozen'); END;"
    refused 3 "audit is frozen" "$sdboxctl" --state "$work/restored" pki init
    [[ ! -e "$work/restored/pki" ]] || fail "a PKI without its audit record was left"
    [[ -s "$work/restored/broker.db" ]] || fail "pki init removed a store it did not create"

    [[ "$(ctl box list --json)" == "$boxes_before" ]] || fail "the boxes changed: $(ctl box list --json)"
    [[ $(audit_count) -eq $records_before ]] || fail "refusals were audited as changes"
    [[ "$(sha256sum <"$pki/boxes.crl")" == "$crl_before" ]] || fail "boxes.crl changed"
    json_check "$(ctl member list --json)" "d == []"
    json_check "$(ctl desktop list --json)" "d == []"
    ctl audit verify >/dev/null || fail "the chain broke"
    ;;

  card_issue_suspend_revoke)
    ctl pki init >/dev/null
    ctl user add --login alice --name "Alice Martin" >/dev/null
    # Inside one private pcscd with a factory-fresh softcard: an unknown user is refused before
    # the card is touched (the issue for alice then still works with the factory PIN and PUK).
    "$top/tools/with-card" --state "$work/card.json" -- bash -c '
      set -e
      if "$0" --state "$1" card issue --user nobody --pin 123456 --puk 12345678 2>"$2/nobody.err"; then
        echo "issued a card to nobody" >&2; exit 1
      fi
      "$0" --state "$1" card issue --user alice --pin 654321 --puk 87654321 >"$2/issue.out"
    ' "$sdboxctl" "$state" "$work" || fail "card issue under with-card failed: $(cat "$work"/*.err "$work/issue.out" 2>/dev/null)"
    grep -q "no user 'nobody'" "$work/nobody.err" || fail "unclear refusal: $(cat "$work/nobody.err")"
    grep -q "card issued to 'alice' (Alice Martin)" "$work/issue.out" || fail "issue said: $(cat "$work/issue.out")"

    cards=$(ctl card list --json)
    json_check "$cards" "len(d) == 1 and d[0]['user'] == 'alice' and d[0]['state'] == 'active' and len(d[0]['certificate_sha256']) == 64"
    serial=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])[0]["certificate_serial"])' "$cards")
    grep -q "$serial" "$work/issue.out" || fail "issue did not print the serial $serial"
    json_check "$(ctl audit list --json --action card.)" \
      "[(r['action'], r['details']['user'], r['details']['certificate_serial']) for r in d] == [('card.issue', 'alice', '$serial')]"

    ctl card suspend --user alice --reason "reported lost" >/dev/null
    json_check "$(ctl card list --json)" "[(c['state'], c['state_reason']) for c in d] == [('suspended', 'reported lost')]"
    ctl card reinstate --serial "$serial" >/dev/null
    json_check "$(ctl card list --json)" "[c['state'] for c in d] == ['active']"
    ! openssl crl -in "$pki/users.crl" -noout -text | grep -qi "$serial" || fail "a card never revoked is on the CRL"
    ctl card revoke --serial "${serial^^}" --reason "left the institute" >/dev/null  # upper-case, as OpenSSL prints it
    json_check "$(ctl card list --json)" "[c['state'] for c in d] == ['revoked']"
    openssl crl -in "$pki/users.crl" -noout -text | grep -qi "Serial Number: *$serial" ||
      fail "users.crl does not list $serial: $(openssl crl -in "$pki/users.crl" -noout -text)"
    openssl crl -in "$pki/users.crl" -CAfile "$pki/users-ca/ca.crt" -noout 2>&1 | grep -q "verify OK" ||
      fail "users.crl is not signed by the users CA"
    refused 1 "revoked, which is final" ctl card reinstate --serial "$serial"
    refused 1 "user 'alice' has no card that is not revoked" ctl card suspend --user alice
    json_check "$(ctl audit list --json --action card.)" \
      "[r['action'] for r in d] == ['card.issue', 'card.suspend', 'card.reinstate', 'card.revoke']"
    ctl audit verify >/dev/null || fail "the chain broke"
    ;;

  *) fail "unknown case $1" ;;
esac
