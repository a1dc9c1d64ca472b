#include "ops/alert_monitor.hpp"

#include "sdbox/common/log.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sdbox::broker {

namespace {

std::string text_detail(const nlohmann::json& details, const char* key) {
  if (!details.is_object()) return {};
  auto found = details.find(key);
  return found != details.end() && found->is_string() ? found->get<std::string>() : std::string();
}

}  // namespace

AlertMonitor::AlertMonitor(Config config) : config_(config) {
  if (config_.store == nullptr || config_.live == nullptr || config_.clock == nullptr) {
    throw std::invalid_argument("AlertMonitor needs a store, the live connections and a clock");
  }
}

void AlertMonitor::raise(const std::string& kind, TimePoint at, const std::string& subject, const std::string& message) {
  events_.push_front(Alert{next_id_++, kind, at, subject, message});
  log::component("ops")->warn("alert {}", log::Fields().add("kind", kind).add("subject", subject));
  forget_old();
}

void AlertMonitor::forget_old() {
  const auto oldest = config_.clock->now() - config_.keep;
  while (!events_.empty() && (events_.back().at < oldest || events_.size() > config_.most)) events_.pop_back();
}

void AlertMonitor::on_records(const std::vector<AuditRecord>& records) {
  for (const auto& record : records) {
    const auto& details = record.event.details;
    if (record.event.action == "login.card_event") {
      const std::string event = text_detail(details, "event");
      std::string kind;
      if (event == "pin_wrong" || event == "pin_blocked") kind = "pin_failures";
      if (event == "finger_wrong" || event == "finger_blocked") kind = "finger_failures";
      if (kind.empty()) continue;
      std::string card = text_detail(details, "card_serial");
      if (card.empty()) card = text_detail(details, "reported_card_serial");
      if (card.empty()) card = "box " + text_detail(details, "box");
      auto& tries = failures_[{card, kind}];
      tries.push_back(record.at);
      while (!tries.empty() && tries.front() < record.at - config_.failures_window) tries.pop_front();
      const bool blocked = event == "pin_blocked" || event == "finger_blocked";
      if (static_cast<int>(tries.size()) == config_.failures_threshold || blocked) {
        raise(kind, record.at, card,
              fmt::format("{} wrong {} on card {} within {} min at box {}{}", tries.size(),
                          kind == "pin_failures" ? "PINs" : "fingers", card, config_.failures_window.count(),
                          text_detail(details, "box"), blocked ? ": the card is now blocked" : ""));
      }
    } else if (record.event.action == "desktop.blocked_channel") {
      raise("blocked_channel", record.at, text_detail(details, "box"),
            fmt::format("the box's client asked for channel {} ({}) in session {} of {} on project {}; nothing crossed",
                        text_detail(details, "channel"), text_detail(details, "carries"),
                        text_detail(details, "session"), text_detail(details, "user"), text_detail(details, "project")));
    }
  }
}

std::int64_t AlertMonitor::condition_id(const std::string& key) {
  auto [where, added] = condition_ids_.try_emplace(key, next_id_);
  if (added) ++next_id_;
  return where->second;
}

void AlertMonitor::check_boxes() {
  const auto now = config_.clock->now();
  std::set<std::string> online;
  for (const auto& tunnel : config_.live->tunnels()) online.insert(tunnel.box);
  auto boxes = config_.store->boxes();
  if (!boxes) return;  // the next check will tell
  std::vector<Alert> offline;
  for (const auto& box : *boxes) {
    const std::string key = "box_offline:" + box.name;
    if (box.state != BoxState::active || !box.last_seen || online.count(box.name) > 0 ||
        now - *box.last_seen < config_.offline_after) {
      condition_ids_.erase(key);  // a box that comes back and goes again is a new alert
      continue;
    }
    offline.push_back(Alert{condition_id(key), "box_offline", *box.last_seen, box.name,
                            fmt::format("box {} at site {} has been offline since {}", box.name, box.site,
                                        format_time(*box.last_seen))});
  }
  offline_ = std::move(offline);
}

void AlertMonitor::check_audit_chain() {
  auto verified = config_.store->verify_audit();
  if (!verified) return;
  if (verified->intact()) {
    chain_broken_.reset();
    condition_ids_.erase("audit_chain_broken");
    return;
  }
  chain_broken_ = Alert{condition_id("audit_chain_broken"), "audit_chain_broken", config_.clock->now(), "audit",
                        fmt::format("the audit chain is broken: {}", verified->problems.front())};
}

std::vector<Alert> AlertMonitor::alerts() const {
  std::vector<Alert> all(offline_.begin(), offline_.end());
  if (chain_broken_) all.push_back(*chain_broken_);
  all.insert(all.end(), events_.begin(), events_.end());
  std::stable_sort(all.begin(), all.end(), [](const Alert& a, const Alert& b) { return a.at > b.at; });
  return all;
}

}  // namespace sdbox::broker
