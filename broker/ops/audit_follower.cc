#include "ops/audit_follower.hpp"

#include "sdbox/common/log.hpp"

namespace sdbox::broker {

std::shared_ptr<AuditFollower> AuditFollower::create(Config config) {
  if (config.store == nullptr) throw std::invalid_argument("AuditFollower needs a store");
  return std::shared_ptr<AuditFollower>(new AuditFollower(std::move(config)));
}

AuditFollower::AuditFollower(Config config) : config_(std::move(config)), timer_(config_.executor) {}

void AuditFollower::listen(Listener listener) { listeners_.push_back(std::move(listener)); }

void AuditFollower::start() {
  auto head = config_.store->audit_head();
  if (!head) throw std::runtime_error("cannot read the audit trail: " + head.error().describe());
  head_ = *head;
  schedule();
}

void AuditFollower::stop() {
  stopped_ = true;
  timer_.cancel();
}

void AuditFollower::poke() {
  if (!stopped_) read_new();
}

void AuditFollower::schedule() {
  if (stopped_) return;
  timer_.expires_after(config_.poll_interval);
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& error) {
    auto self = weak.lock();
    if (error || !self || self->stopped_) return;
    self->read_new();
    self->schedule();
  });
}

void AuditFollower::read_new() {
  auto head = config_.store->audit_head();
  if (!head) {
    log::component("ops")->error("cannot read the audit head: {}", head.error().describe());
    return;
  }
  while (*head > head_) {
    AuditQuery query;
    query.after_sequence = head_;
    query.limit = 500;
    auto records = config_.store->audit_records(query);
    if (!records) {
      log::component("ops")->error("cannot read new audit records: {}", records.error().describe());
      return;
    }
    if (records->empty()) return;
    head_ = records->back().sequence;
    for (const auto& listener : listeners_) listener(*records);
  }
}

}  // namespace sdbox::broker
