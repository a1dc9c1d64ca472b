#!/usr/bin/env bash
# OpenSC's PKCS#11 module lists the demo card's PIV authentication certificate and key.
source "$(dirname "$0")/lib.sh"
output=$(with_demo_card pkcs11-tool --module "$pkcs11_module" --list-objects 2>&1) || fail "pkcs11-tool failed: $output"
echo "$output"
grep -q "Certificate Object; type = X.509 cert" <<<"$output" || fail "no certificate listed"
grep -q "subject:    DN: O=SD-Box, CN=Demo Researcher" <<<"$output" || fail "certificate subject missing"
grep -q "Public Key Object; EC  EC_POINT 256 bits" <<<"$output" || fail "P-256 public key missing"
echo PASS
