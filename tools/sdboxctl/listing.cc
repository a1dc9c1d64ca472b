#include "listing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace sdbox::ctl {

namespace {

using Json = nlohmann::json;

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

/// A value as a cell: text as it is, nothing (null or absent) as "-".
std::string cell_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return dump(value);
}

std::function<std::string(const Json&)> field(std::string key) {
  return [key = std::move(key)](const Json& record) {
    const auto found = record.find(key);
    return found == record.end() ? std::string("-") : cell_text(*found);
  };
}

/// "revoked (stolen from the lab)": the reason beside the state when there is one.
std::function<std::string(const Json&)> state_with_reason() {
  return [](const Json& record) {
    auto state = field("state")(record);
    const auto reason = record.find("state_reason");
    if (reason == record.end() || !reason->is_string() || reason->get<std::string>().empty()) return state;
    return fmt::format("{} ({})", state, reason->get<std::string>());
  };
}

/// Columns padded to their widest cell; the last column is never padded.
void print_table(std::ostream& out, const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(headers.size());
  for (std::size_t column = 0; column < headers.size(); ++column) widths[column] = headers[column].size();
  for (const auto& row : rows) {
    for (std::size_t column = 0; column < row.size() && column < widths.size(); ++column) {
      widths[column] = std::max(widths[column], row[column].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t column = 0; column < cells.size(); ++column) {
      line += cells[column];
      if (column + 1 < cells.size()) line += std::string(widths[column] - cells[column].size() + 2, ' ');
    }
    out << line << "\n";
  };
  print_row(headers);
  for (const auto& row : rows) print_row(row);
}

}  // namespace

Status print_listing(std::ostream& out, OutputFormat format, const Json& records, const Columns& columns) {
  if (!records.is_array() || !std::all_of(records.begin(), records.end(), [](const Json& record) { return record.is_object(); })) {
    return make_error(ErrorCategory::io, "the answer is not a list of records");
  }
  if (format == OutputFormat::json) {
    out << records.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    return {};
  }
  std::vector<std::string> headers;
  headers.reserve(columns.size());
  for (const auto& column : columns) headers.push_back(column.header);
  std::vector<std::vector<std::string>> rows;
  rows.reserve(records.size());
  for (const auto& record : records) {
    std::vector<std::string> row;
    row.reserve(columns.size());
    for (const auto& column : columns) row.push_back(column.cell(record));
    rows.push_back(std::move(row));
  }
  print_table(out, headers, rows);
  return {};
}

namespace columns {

Columns sites() { return {{"NAME", field("name")}, {"CREATED", field("created_at")}}; }

Columns boxes() {
  return {{"NAME", field("name")},
          {"SITE", field("site")},
          {"STATE", state_with_reason()},
          {"CERTIFICATE SERIAL", field("certificate_serial")},
          {"CREATED", field("created_at")}};
}

Columns users() {
  return {{"LOGIN", field("login")}, {"NAME", field("full_name")}, {"STATE", field("state")}, {"CREATED", field("created_at")}};
}

Columns cards() {
  return {{"USER", field("user")},
          {"STATE", state_with_reason()},
          {"CERTIFICATE SERIAL", field("certificate_serial")},
          {"ENROLLED", field("enrolled_at")}};
}

Columns projects() { return {{"NAME", field("name")}, {"TITLE", field("title")}}; }

Columns memberships() {
  return {{"ID", field("id")},       {"USER", field("user")},   {"PROJECT", field("project")},
          {"FROM", field("from")},   {"UNTIL", field("until")}, {"ENDED", field("ended_at")}};
}

Columns desktops() {
  return {{"PROJECT", field("project")},
          {"HOST", field("host")},
          {"PORT", field("port")},
          {"CERTIFICATE SHA-256", [](const Json& desktop) {
             const auto pinned = field("certificate_sha256")(desktop);
             return pinned.empty() ? std::string("any") : pinned;
           }}};
}

Columns sessions() {
  return {{"ID", field("id")},           {"USER", field("user")},       {"BOX", field("box")},
          {"PROJECT", field("project")}, {"STATE", field("state")},     {"STARTED", field("started_at")},
          {"ENDED", field("ended_at")}};
}

Columns live_sessions() {
  return {{"ID", field("id")},       {"USER", field("user")},           {"BOX", field("box")},
          {"SITE", field("site")},   {"PROJECT", field("project")},     {"STATE", field("state")},
          {"SINCE", field("since")}};
}

Columns alerts() {
  return {{"ID", field("id")},
          {"KIND", field("kind")},
          {"AT", field("at")},
          {"SUBJECT", field("subject")},
          {"MESSAGE", field("message")}};
}

Columns staff() {
  return {{"NAME", field("name")},
          {"ROLE", field("role")},
          {"STATE", field("state")},
          {"SERIAL", field("certificate_serial")},
          {"ADDED", field("created_at")}};
}

Columns audit() {
  return {{"SEQ", field("sequence")}, {"AT", field("at")},           {"ACTOR", field("actor")},
          {"ACTION", field("action")}, {"OUTCOME", field("outcome")}, {"DETAILS", field("details")}};
}

}  // namespace columns

Result<bool> print_audit_verdict(std::ostream& out, OutputFormat format, const Json& verdict) {
  const bool well_formed = verdict.is_object() && verdict.contains("intact") && verdict["intact"].is_boolean() &&
                           verdict.contains("records") && verdict["records"].is_number_integer() &&
                           verdict.contains("head_hash") && verdict["head_hash"].is_string() &&
                           verdict.contains("problems") && verdict["problems"].is_array() &&
                           std::all_of(verdict["problems"].begin(), verdict["problems"].end(),
                                       [](const Json& problem) { return problem.is_string(); });
  if (!well_formed) return make_error(ErrorCategory::io, "the answer is not an audit verdict");
  const bool intact = verdict["intact"].get<bool>();
  const auto records = verdict["records"].get<std::int64_t>();
  const auto& problems = verdict["problems"];
  if (format == OutputFormat::json) {
    out << Json{{"intact", intact}, {"records", records}, {"head", verdict["head_hash"]}, {"problems", problems}}.dump(
               2, ' ', false, Json::error_handler_t::replace)
        << "\n";
  } else if (intact) {
    out << "audit chain intact: " << records << " records, head " << verdict["head_hash"].get<std::string>() << "\n";
  } else {
    out << "audit chain BROKEN: " << records << " records, " << problems.size() << " problem(s)\n";
    for (const auto& problem : problems) out << "  " << problem.get<std::string>() << "\n";
  }
  return intact;
}

}  // namespace sdbox::ctl
