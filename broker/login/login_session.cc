#include "login/login_session.hpp"

#include "sdbox/common/log.hpp"
#include "sdbox/common/login_proof.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace sdbox::broker {

namespace {

using Json = nlohmann::json;
using wire::Frame;
using wire::FrameType;

constexpr std::size_t kMaxCertificateHex = 8192;
constexpr std::size_t kMaxSignatureHex = 256;

/// What a box may report about the card: outcomes the broker cannot see but must audit.
constexpr std::array<std::string_view, 5> kCardEvents = {"pin_wrong", "pin_blocked", "finger_wrong",
                                                         "finger_blocked", "card_removed"};

/// A string field of bounded length, or nothing.
std::optional<std::string> string_field(const Json& body, const char* key, std::size_t max_length) {
  const auto found = body.find(key);
  if (found == body.end() || !found->is_string()) return std::nullopt;
  const auto& text = found->get_ref<const std::string&>();
  if (text.empty() || text.size() > max_length) return std::nullopt;
  return text;
}

std::string reason_for_certificate(const Error& error) {
  return error.code == X509_V_ERR_CERT_REVOKED ? refusal::kCardRevoked : refusal::kCertificateInvalid;
}

}  // namespace

LoginSession::LoginSession(Config config) : config_(std::move(config)) {
  if (config_.store == nullptr || config_.clock == nullptr || config_.users_ca.certificate == nullptr) {
    throw std::invalid_argument("LoginSession needs a store, a clock and the users CA");
  }
}

LoginSession::Reply LoginSession::handle(const Frame& frame) {
  switch (frame.type) {
    case FrameType::login_begin: return begin(frame.body);
    case FrameType::choose_project: return choose(frame.body);
    case FrameType::login_proof: return prove(frame.body);
    case FrameType::login_event: return card_event(frame.body);
    default:
      return refuse(refusal::kProtocol, fmt::format("a {} frame is not part of a login", wire::to_string(frame.type)),
                    true);
  }
}

void LoginSession::audit(const std::string& action, const std::string& outcome, Json details) {
  details["box"] = config_.box;
  details["site"] = config_.site;
  if (user_) details["user"] = user_->login;
  if (card_) details["card_serial"] = card_->certificate_serial;
  if (!project_.empty()) details["project"] = project_;
  auto written = config_.store->audit({"broker", action, outcome, std::move(details)});
  if (!written) {
    log::component("login")->error("{} audit_failed=\"{}\"",
                                   log::Fields().add("box", config_.box).add("action", action),
                                   written.error().describe());
  }
}

void LoginSession::finished(const std::string& outcome) {
  const auto took = begun_at_ ? std::chrono::steady_clock::now() - *begun_at_ : std::chrono::steady_clock::duration{};
  begun_at_.reset();
  if (config_.login_finished) config_.login_finished(outcome, took);
}

LoginSession::Reply LoginSession::refuse(const std::string& reason, const std::string& message, bool close) {
  audit("login.refused", "refused", {{"reason", reason}});
  finished(reason);
  log::component("login")->info("login refused {}", log::Fields()
                                                        .add("box", config_.box)
                                                        .add("user", user_ ? user_->login : "-")
                                                        .add("project", project_.empty() ? "-" : project_)
                                                        .add("reason", reason));
  step_ = Step::idle;
  user_.reset();
  card_.reset();
  card_key_.reset();
  project_.clear();
  challenge_.clear();
  return Reply{Frame{FrameType::refusal, {{"reason", reason}, {"message", message}}}, close};
}

/// The card and the membership may change between steps (an admin suspends the card while the
/// person is at the sensor): every step re-reads them. The refusal reason, or nothing when allowed.
std::optional<std::string> LoginSession::refusal_now() {
  auto card = config_.store->card_by_serial(card_->certificate_serial);
  if (!card) return std::string(refusal::kStore);
  card_ = *card;
  auto user = config_.store->user(card_->user);
  if (!user) return std::string(refusal::kStore);
  user_ = *user;
  if (card_->state == CardState::revoked) return std::string(refusal::kCardRevoked);
  if (card_->state == CardState::suspended) return std::string(refusal::kCardSuspended);
  if (config_.clock->now() - card_->enrolled_at > config_.policy.enrolment_renewal) {
    return std::string(refusal::kEnrolmentExpired);
  }
  if (user_->state != UserState::active) return std::string(refusal::kUserDisabled);
  return std::nullopt;
}

Result<std::vector<Project>> LoginSession::projects_today() {
  return config_.store->projects_open_to(user_->login, std::chrono::floor<std::chrono::days>(config_.clock->now()));
}

Result<bool> LoginSession::open_today(const std::string& project) {
  auto projects = projects_today();
  if (!projects) return projects.error();
  return std::any_of(projects->begin(), projects->end(), [&](const Project& open) { return open.name == project; });
}

namespace {
std::string message_for(const std::string& reason) {
  if (reason == refusal::kCardRevoked) return "This card has been revoked. Contact your IT administrator.";
  if (reason == refusal::kCardSuspended) return "This card is suspended. Contact your IT administrator.";
  if (reason == refusal::kEnrolmentExpired) {
    return "This card's enrolment has expired (renewal every 4 years). Contact your IT administrator.";
  }
  if (reason == refusal::kUserDisabled) return "Your account is disabled. Contact your IT administrator.";
  if (reason == refusal::kCardUnknown) return "This card is not registered with SD-Box.";
  if (reason == refusal::kNoProjectToday) return "You have no project open today.";
  if (reason == refusal::kProjectNotOpen) return "This project is not open to you today.";
  return "The broker cannot log you in now. Try again later.";
}
}  // namespace

LoginSession::Reply LoginSession::begin(const Json& body) {
  step_ = Step::idle;
  begun_at_ = std::chrono::steady_clock::now();
  user_.reset();
  card_.reset();
  project_.clear();
  challenge_.clear();
  const auto hex = string_field(body, "certificate", kMaxCertificateHex);
  Bytes der;
  if (!hex || !from_hex(*hex, der)) {
    return refuse(refusal::kProtocol, "login_begin needs the card certificate as hex", true);
  }
  auto certificate = crypto::certificate_from_der(der);
  if (!certificate) return refuse(refusal::kCertificateInvalid, "The card's certificate is unreadable.");
  const auto serial = crypto::certificate_serial_hex(**certificate);
  if (auto verified = crypto::verify_certificate(**certificate, *config_.users_ca.certificate, config_.users_ca.crl,
                                                 config_.clock->now());
      !verified) {
    audit("login.certificate", "refused", {{"card_serial", serial}, {"detail", verified.error().message}});
    const auto reason = reason_for_certificate(verified.error());
    return refuse(reason, reason == refusal::kCardRevoked
                              ? message_for(reason)
                              : "This card was not issued by this SD-Box site (" + verified.error().message + ").");
  }
  auto card = config_.store->card_by_serial(serial);
  if (!card) {
    if (is_store_failure(card.error(), StoreFailure::not_found)) {
      audit("login.certificate", "refused", {{"card_serial", serial}});
      return refuse(refusal::kCardUnknown, message_for(refusal::kCardUnknown));
    }
    return refuse(refusal::kStore, message_for(refusal::kStore));
  }
  auto fingerprint = crypto::certificate_fingerprint(**certificate);
  if (!fingerprint || *fingerprint != card->certificate_sha256) {
    audit("login.certificate", "refused", {{"card_serial", serial}, {"detail", "certificate differs from the one issued"}});
    return refuse(refusal::kCardUnknown, message_for(refusal::kCardUnknown));
  }
  card_ = *card;
  auto key = crypto::certificate_public_key(**certificate);
  if (!key) return refuse(refusal::kCertificateInvalid, "The card's certificate holds no usable key.");
  card_key_ = std::move(*key);
  if (auto reason = refusal_now()) return refuse(*reason, message_for(*reason));
  auto projects = projects_today();
  if (!projects) return refuse(refusal::kStore, message_for(refusal::kStore));
  if (projects->empty()) return refuse(refusal::kNoProjectToday, message_for(refusal::kNoProjectToday));
  Json offered = Json::array();
  for (const auto& project : *projects) offered.push_back({{"name", project.name}, {"title", project.title}});
  step_ = Step::projects_offered;
  audit("login.begin", "ok", {{"projects", static_cast<std::int64_t>(projects->size())}});
  return Reply{Frame{FrameType::projects, {{"user", user_->login}, {"name", user_->full_name}, {"projects", offered}}},
               false};
}

LoginSession::Reply LoginSession::choose(const Json& body) {
  if (step_ != Step::projects_offered) {
    return refuse(refusal::kProtocol, "choose_project before the projects were offered", true);
  }
  const auto project = string_field(body, "project", 64);
  if (!project) return refuse(refusal::kProtocol, "choose_project needs a project name", true);
  if (auto reason = refusal_now()) return refuse(*reason, message_for(*reason));
  auto open = open_today(*project);
  if (!open) return refuse(refusal::kStore, message_for(refusal::kStore));
  if (!*open) {
    audit("login.choose", "refused", {{"requested_project", *project}});
    return refuse(refusal::kProjectNotOpen, message_for(refusal::kProjectNotOpen));
  }
  project_ = *project;
  challenge_ = crypto::random_bytes(login::kChallengeSize);
  challenge_issued_ = config_.clock->now();
  step_ = Step::challenged;
  audit("login.challenge", "ok", {});
  return Reply{Frame{FrameType::challenge, {{"challenge", to_hex(challenge_)}, {"project", project_}}}, false};
}

LoginSession::Reply LoginSession::prove(const Json& body) {
  if (step_ != Step::challenged) {
    // A proof with no challenge outstanding is a replay (or a confused box): refused, audited.
    return refuse(refusal::kBadSignature, "No challenge is outstanding: the proof is refused.");
  }
  const Bytes challenge = std::move(challenge_);
  challenge_.clear();
  step_ = Step::idle;  // one proof per challenge, whatever happens next
  const auto hex = string_field(body, "signature", kMaxSignatureHex);
  Bytes signature;
  if (!hex || !from_hex(*hex, signature)) return refuse(refusal::kProtocol, "login_proof needs a hex signature", true);
  if (config_.clock->now() - challenge_issued_ > config_.policy.challenge_lifetime) {
    return refuse(refusal::kChallengeExpired, "The login took too long. Please start again.");
  }
  if (auto reason = refusal_now()) return refuse(*reason, message_for(*reason));
  const Bytes digest = login::proof_digest(challenge, config_.tunnel_exporter, config_.box, project_);
  auto valid = crypto::ecdsa_verify_digest(*card_key_, digest, signature);
  if (!valid || !*valid) {
    return refuse(refusal::kBadSignature, "The card's signature does not match this login.");
  }
  auto open = open_today(project_);
  if (!open) return refuse(refusal::kStore, message_for(refusal::kStore));
  if (!*open) return refuse(refusal::kProjectNotOpen, message_for(refusal::kProjectNotOpen));
  auto desktop = config_.store->desktop(project_);
  if (!desktop) return refuse(refusal::kNoDesktop, "This project has no desktop yet. Contact your IT administrator.");
  auto account = config_.store->desktop_account(project_, user_->login);
  if (!account) {
    return refuse(refusal::kNoDesktopAccount, "You have no account on this project's desktop yet. Contact your IT administrator.");
  }
  auto session = config_.store->open_session({0, user_->login, config_.box, project_, SessionState::active, {}, {}},
                                             "broker");
  if (!session) return refuse(refusal::kStore, message_for(refusal::kStore));
  assignment_ = Assignment{*session, *desktop, *account, card_->certificate_serial};
  finished("success");
  audit("login.success", "ok", {{"session", session->id}});
  log::component("login")->info("session ready {}", log::Fields()
                                                        .add("session", session->id)
                                                        .add("box", config_.box)
                                                        .add("user", user_->login)
                                                        .add("project", project_));
  Reply reply{Frame{FrameType::session_ready,
                    {{"session", session->id},
                     {"project", project_},
                     {"desktop", {{"host", desktop->host}, {"port", desktop->port}}}}},
              false};
  user_.reset();
  card_.reset();
  project_.clear();
  return reply;
}

LoginSession::Reply LoginSession::card_event(const Json& body) {
  const auto event = string_field(body, "event", 32);
  if (!event || std::find(kCardEvents.begin(), kCardEvents.end(), *event) == kCardEvents.end()) {
    return refuse(refusal::kProtocol, "login_event needs a known event", true);
  }
  Json details = {{"event", *event}};
  if (const auto tries = body.find("tries_left"); tries != body.end() && tries->is_number_integer()) {
    details["tries_left"] = tries->get<std::int64_t>();
  }
  // The PIN is checked before the broker sees the certificate, so the box names the card.
  if (!card_) {
    if (const auto serial = string_field(body, "card_serial", 64)) details["reported_card_serial"] = *serial;
  }
  audit("login.card_event", *event == "card_removed" ? "ok" : "refused", std::move(details));
  if (*event == "card_removed") {
    step_ = Step::idle;
    user_.reset();
    card_.reset();
    project_.clear();
    challenge_.clear();
  }
  return Reply{std::nullopt, false};
}

}  // namespace sdbox::broker
