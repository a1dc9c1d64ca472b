#!/usr/bin/env bash
# pkcs11-tool logs in with PIN 123456 and signs with ECDSA-SHA256 on key 01 (slot 9A); the
# signature verifies with openssl against the certificate read from the card.
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/sdbox-peer.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "data the card signs" > "$work/message"
with_demo_card bash -c "
  set -e
  pkcs11-tool --module $pkcs11_module --login --pin 123456 --sign --mechanism ECDSA-SHA256 --id 01 \
    --signature-format openssl -i '$work/message' -o '$work/signature'
  pkcs11-tool --module $pkcs11_module --read-object --type cert --id 01 -o '$work/card.der'
  # a wrong PIN must be refused by the card
  if pkcs11-tool --module $pkcs11_module --login --pin 654321 --sign --mechanism ECDSA-SHA256 --id 01 \
       -i '$work/message' -o '$work/refused' 2>'$work/refused.log'; then exit 3; fi
" || fail "pkcs11-tool sign run failed ($?)"
openssl x509 -inform DER -in "$work/card.der" -pubkey -noout > "$work/card.pub"
openssl dgst -sha256 -verify "$work/card.pub" -signature "$work/signature" "$work/message" || fail "signature does not verify"
grep -q "CKR_PIN_INCORRECT" "$work/refused.log" || fail "wrong PIN was not reported as CKR_PIN_INCORRECT"
echo PASS
