#include "store/audit_chain.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/crypto.hpp"

#include <fmt/format.h>

namespace sdbox::broker {

std::string canonical_form(const AuditRecord& record) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(record.at.time_since_epoch()).count();
  const nlohmann::json form = {
      {"sequence", record.sequence},     {"at_ms", millis},
      {"actor", record.event.actor},     {"action", record.event.action},
      {"outcome", record.event.outcome}, {"details", record.event.details},
      {"previous", record.previous_hash},
  };
  // nlohmann::json keeps object keys sorted, which is what makes this canonical. Invalid UTF-8
  // (a name read from a hostile certificate) is replaced, never a reason to lose the record.
  return form.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string chain_hash(const AuditRecord& record) {
  const std::string form = canonical_form(record);
  return to_hex(crypto::sha256(bytes_of(form)));
}

AuditVerification verify_chain(const std::vector<AuditRecord>& records, std::int64_t head_sequence,
                               const std::string& head_hash) {
  AuditVerification result;
  result.records = static_cast<std::int64_t>(records.size());
  std::string previous = kGenesisHash;
  std::int64_t expected_sequence = 1;
  for (const auto& record : records) {
    if (record.sequence != expected_sequence) {
      result.problems.push_back(fmt::format("record {} follows record {}: {} missing or inserted",
                                            record.sequence, expected_sequence - 1,
                                            record.sequence > expected_sequence ? "records" : "a record"));
    }
    if (record.previous_hash != previous) {
      result.problems.push_back(
          fmt::format("record {}: its previous hash does not match the record before it", record.sequence));
    }
    if (chain_hash(record) != record.hash) {
      result.problems.push_back(fmt::format("record {}: content does not match its hash (edited)", record.sequence));
    }
    previous = record.hash;
    expected_sequence = record.sequence + 1;
  }
  const std::int64_t last = records.empty() ? 0 : records.back().sequence;
  if (last != head_sequence || (head_sequence != 0 && previous != head_hash)) {
    result.problems.push_back(fmt::format("the chain ends at record {} but its anchor says record {} ({})", last,
                                          head_sequence, "records removed from the end or the anchor edited"));
  }
  result.head_hash = previous;
  return result;
}

}  // namespace sdbox::broker
