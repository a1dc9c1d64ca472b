#pragma once

#include "pki/pki.hpp"
#include "store/store.hpp"

namespace sdbox::broker {

/// Rewrites the CRL of `authority` from the store: every revoked box (boxes) or revoked card
/// (users). Returns how many certificates it lists. CRLs carry a next-update date (30 days), so
/// the broker republishes them daily and a revocation is never lost to an expired list.
Result<std::size_t> publish_crl(const Pki& pki, Store& store, Pki::Authority authority);

}  // namespace sdbox::broker
