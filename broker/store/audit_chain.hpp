#pragma once

#include "store/store.hpp"

#include <string>
#include <vector>

namespace sdbox::broker {

/// The hash of "no previous record".
inline const std::string kGenesisHash(64, '0');

/// The canonical form of a record: compact JSON with sorted keys of every field but `hash`
/// (time as integer milliseconds), so any store can recompute it byte for byte.
std::string canonical_form(const AuditRecord& record);

/// Hex SHA-256 of the canonical form.
std::string chain_hash(const AuditRecord& record);

/// Checks `records` (in sequence order, starting at 1): contiguous sequence numbers, each
/// record's previous hash equal to the hash of the one before, each hash recomputed from the
/// record, and the last hash equal to `head_hash` (the anchor kept beside the chain, so a
/// truncated tail shows). An empty `head_hash` with no records is an intact, empty chain.
AuditVerification verify_chain(const std::vector<AuditRecord>& records, std::int64_t head_sequence,
                               const std::string& head_hash);

}  // namespace sdbox::broker
