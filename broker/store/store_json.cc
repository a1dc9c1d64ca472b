#include "store/store_json.hpp"

namespace sdbox::broker {

using Json = nlohmann::json;

namespace {

Json optional_time(const std::optional<TimePoint>& time) { return time ? Json(format_time(*time)) : Json(nullptr); }

}  // namespace

Json to_json(const Site& site) {
  return {{"id", site.id}, {"name", site.name}, {"created_at", format_time(site.created_at)}};
}

Json to_json(const Box& box) {
  return {{"id", box.id},
          {"name", box.name},
          {"site", box.site},
          {"certificate_serial", box.certificate_serial},
          {"certificate_sha256", box.certificate_sha256},
          {"state", to_string(box.state)},
          {"state_reason", box.state_reason},
          {"created_at", format_time(box.created_at)},
          {"last_seen", optional_time(box.last_seen)}};
}

Json to_json(const User& user) {
  return {{"id", user.id},
          {"login", user.login},
          {"full_name", user.full_name},
          {"state", to_string(user.state)},
          {"created_at", format_time(user.created_at)}};
}

Json to_json(const Card& card) {
  return {{"id", card.id},
          {"user", card.user},
          {"certificate_serial", card.certificate_serial},
          {"certificate_sha256", card.certificate_sha256},
          {"state", to_string(card.state)},
          {"state_reason", card.state_reason},
          {"enrolled_at", format_time(card.enrolled_at)}};
}

Json to_json(const Project& project) { return {{"id", project.id}, {"name", project.name}, {"title", project.title}}; }

Json to_json(const Membership& membership) {
  return {{"id", membership.id},
          {"user", membership.user},
          {"project", membership.project},
          {"from", format_day(membership.from)},
          {"until", format_day(membership.until)},
          {"ended", membership.ended_at.has_value()},
          {"ended_at", optional_time(membership.ended_at)},
          {"end_reason", membership.end_reason}};
}

Json to_json(const Desktop& desktop) {
  return {{"project", desktop.project},
          {"host", desktop.host},
          {"port", desktop.port},
          {"certificate_sha256", desktop.certificate_sha256},
          {"logoff_endpoint", desktop.logoff_endpoint}};
}

Json to_json(const Session& session) {
  return {{"id", session.id},
          {"user", session.user},
          {"box", session.box},
          {"project", session.project},
          {"state", to_string(session.state)},
          {"started_at", format_time(session.started_at)},
          {"ended_at", optional_time(session.ended_at)},
          {"end_reason", session.end_reason}};
}

Json to_json(const StaffMember& member) {
  return {{"id", member.id},
          {"name", member.name},
          {"role", to_string(member.role)},
          {"state", to_string(member.state)},
          {"certificate_serial", member.certificate_serial},
          {"certificate_sha256", member.certificate_sha256},
          {"created_at", format_time(member.created_at)}};
}

Json to_json(const AuditRecord& record) {
  return {{"sequence", record.sequence},
          {"at", format_time(record.at)},
          {"at_ms", std::chrono::duration_cast<std::chrono::milliseconds>(record.at.time_since_epoch()).count()},
          {"actor", record.event.actor},
          {"action", record.event.action},
          {"outcome", record.event.outcome},
          {"details", record.event.details},
          {"previous_hash", record.previous_hash},
          {"hash", record.hash}};
}

Json to_json(const AuditVerification& verification) {
  return {{"intact", verification.intact()},
          {"records", verification.records},
          {"head_hash", verification.head_hash},
          {"problems", verification.problems}};
}

}  // namespace sdbox::broker
