#include "ops/access_enforcer.hpp"

#include "sdbox/common/log.hpp"

#include <algorithm>
#include <array>

namespace sdbox::broker {

namespace {

Ending ending_for(const char* reason) {
  const std::string why = reason;
  if (why == enforcement::kCardSuspended) {
    return {why, "This card has been suspended. Contact your IT administrator."};
  }
  if (why == enforcement::kCardRevoked) return {why, "This card has been revoked. Contact your IT administrator."};
  if (why == enforcement::kUserDisabled) return {why, "Your account has been disabled. Contact your IT administrator."};
  if (why == enforcement::kMembershipEnded) {
    return {why, "Your membership of this project has ended. Contact your IT administrator."};
  }
  if (why == enforcement::kBoxRevoked) return {why, "This box has been revoked. Contact your IT administrator."};
  return {why, "Your session was ended by the operations team."};
}

}  // namespace

bool withdraws_access(std::string_view action) {
  static constexpr std::array<std::string_view, 5> kActions = {"card.suspend", "card.revoke", "box.revoke",
                                                               "member.end", "session.end"};
  return std::find(kActions.begin(), kActions.end(), action) != kActions.end();
}

AccessEnforcer::AccessEnforcer(Config config) : config_(std::move(config)) {
  if (config_.store == nullptr || config_.live == nullptr || config_.clock == nullptr) {
    throw std::invalid_argument("AccessEnforcer needs a store, the live connections and a clock");
  }
}

void AccessEnforcer::on_records(const std::vector<AuditRecord>& records) {
  std::optional<TimePoint> first_change;
  for (const auto& record : records) {
    if (withdraws_access(record.event.action) && !first_change) first_change = record.at;
  }
  if (first_change) sweep(*first_change);
}

std::optional<Ending> AccessEnforcer::view_withdrawn(const LiveView& view) {
  // A store that cannot answer withdraws nothing: the next change sweeps again.
  if (auto session = config_.store->session(view.session); session && session->state == SessionState::ended) {
    return ending_for(enforcement::kSessionEnded);
  }
  if (auto card = config_.store->card_by_serial(view.card_serial)) {
    if (card->state == CardState::suspended) return ending_for(enforcement::kCardSuspended);
    if (card->state == CardState::revoked) return ending_for(enforcement::kCardRevoked);
  }
  if (auto user = config_.store->user(view.user); user && user->state != UserState::active) {
    return ending_for(enforcement::kUserDisabled);
  }
  const auto today = std::chrono::floor<std::chrono::days>(config_.clock->now());
  if (auto open = config_.store->projects_open_to(view.user, today)) {
    const bool member = std::any_of(open->begin(), open->end(), [&](const Project& project) { return project.name == view.project; });
    if (!member) return ending_for(enforcement::kMembershipEnded);
  }
  return std::nullopt;
}

std::size_t AccessEnforcer::sweep(TimePoint changed_at) {
  std::size_t cut_count = 0;
  for (const auto& view : config_.live->views()) {
    if (auto why = view_withdrawn(view)) {
      if (config_.live->end_view(view.session, *why)) {
        cut("view", *why, {{"session", view.session}, {"user", view.user}, {"box", view.box}, {"project", view.project}},
            changed_at);
        ++cut_count;
      }
    }
  }
  for (const auto& tunnel : config_.live->tunnels()) {
    auto box = config_.store->box(tunnel.box);
    const bool revoked = box ? box->state == BoxState::revoked
                             : is_store_failure(box.error(), StoreFailure::not_found);
    if (!revoked) continue;
    const auto why = ending_for(enforcement::kBoxRevoked);
    if (config_.live->close_box(tunnel.box, why) > 0) {
      cut("tunnel", why, {{"box", tunnel.box}, {"site", tunnel.site}, {"peer", tunnel.peer}}, changed_at);
      ++cut_count;
    }
  }
  return cut_count;
}

void AccessEnforcer::cut(const std::string& what, const Ending& why, const nlohmann::json& subject, TimePoint changed_at) {
  const std::chrono::duration<double> after = config_.clock->now() - changed_at;
  auto details = subject;
  details["cut"] = what;
  details["reason"] = why.reason;
  details["after_change_ms"] = static_cast<std::int64_t>(after.count() * 1000);
  log::component("ops")->warn("access withdrawn {}", log::Fields()
                                                        .add("cut", what)
                                                        .add("reason", why.reason)
                                                        .add("subject", subject.dump())
                                                        .add("after_change_ms", details["after_change_ms"].get<std::int64_t>()));
  if (auto written = config_.store->audit({"broker", "access.cut", "ok", details}); !written) {
    log::component("ops")->error("audit failed action=access.cut error=\"{}\"", written.error().describe());
  }
  if (config_.enforced) config_.enforced(why.reason, after);
}

}  // namespace sdbox::broker
