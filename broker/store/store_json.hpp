#pragma once
// The JSON form of each store record: one place, so the admin API and sdboxctl (locally and
// through the API) print the same fields with the same names.

#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace sdbox::broker {

/// Times are `format_time` strings (UTC), days `format_day` strings; a time that is not set is
/// null. Secrets (desktop account passwords) have no JSON form.
nlohmann::json to_json(const Site& site);
nlohmann::json to_json(const Box& box);
nlohmann::json to_json(const User& user);
nlohmann::json to_json(const Card& card);
nlohmann::json to_json(const Project& project);
nlohmann::json to_json(const Membership& membership);
nlohmann::json to_json(const Desktop& desktop);
nlohmann::json to_json(const Session& session);
nlohmann::json to_json(const StaffMember& member);
nlohmann::json to_json(const AuditRecord& record);
/// {"intact", "records", "head_hash", "problems"}.
nlohmann::json to_json(const AuditVerification& verification);

/// Every record of a listing, as one JSON array.
template <class Record>
nlohmann::json to_json_array(const std::vector<Record>& records) {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& record : records) array.push_back(to_json(record));
  return array;
}

}  // namespace sdbox::broker
