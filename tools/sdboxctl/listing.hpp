#pragma once
// How sdboxctl prints listings: the same JSON and the same columns whether the records come from
// the local store or from the broker's admin API.

#include "sdbox/common/result.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace sdbox::ctl {

/// How a listing is printed: aligned columns for people, one JSON array for scripts.
enum class OutputFormat { text, json };

/// One column of a text listing: its header, and its cell taken from a record's JSON object.
struct Column {
  std::string header;
  std::function<std::string(const nlohmann::json& record)> cell;
};
using Columns = std::vector<Column>;

/// Prints `records` (a JSON array of objects): with `json` the array itself, indented; as text a
/// header line and one line per record, each column padded to its widest cell. A `records` that
/// is not an array of objects is an `io` error (an answer that is not a listing) and prints nothing.
Status print_listing(std::ostream& out, OutputFormat format, const nlohmann::json& records, const Columns& columns);

/// The columns of each listing, for the records' JSON form (`broker::to_json`, or the API's).
namespace columns {
Columns sites();
Columns boxes();
Columns users();
Columns cards();
Columns projects();
Columns memberships();
Columns desktops();
/// Sessions as the store keeps them (started, ended).
Columns sessions();
/// Live sessions as the broker's API lists them (site, connected or not, since when).
Columns live_sessions();
Columns alerts();
Columns staff();
Columns audit();
}  // namespace columns

/// Prints the verdict of an audit chain check given in its JSON form (`{"intact", "records",
/// "head_hash", "problems"}`): with `json` as `{"intact", "records", "head", "problems"}`, as text
/// one line, plus one line per problem. True when the chain is intact; an `io` error for a
/// verdict that is not of that form.
Result<bool> print_audit_verdict(std::ostream& out, OutputFormat format, const nlohmann::json& verdict);

}  // namespace sdbox::ctl
