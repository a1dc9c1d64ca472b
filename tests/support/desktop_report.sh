# Sourced by shell tests that read a test desktop's report ($work/report.json) and that define
# fail(). report EXPR evaluates a Python expression over it (`r` the report, `s` alice's newest
# session or None); wait_for EXPR waits up to 20 s for it to be True.
report() {
  python3 - "$work/report.json" "$1" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print("")
    sys.exit(0)
sessions = [x for x in r["sessions"] if x["user"] == "alice"]
s = sessions[-1] if sessions else None
print(eval(sys.argv[2]))
PY
}
wait_for() {
  for _ in $(seq 200); do
    [[ "$(report "$1")" == "True" ]] && return 0
    sleep 0.1
  done
  fail "timed out waiting for: $1"
}
