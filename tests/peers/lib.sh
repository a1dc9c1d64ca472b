# Shared by the peer tests: run a command under tools/with-card --demo using the build under test.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${SDBOX_BUILD_DIR:=$top/build/default}"
export SDBOX_BUILD_DIR
pkcs11_module=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so
with_demo_card() { "$top/tools/with-card" --demo -- "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
