#pragma once

#include "store/store.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/clock.hpp"
#include "sdbox/common/crypto.hpp"
#include "sdbox/common/frame.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sdbox::broker {

/// The broker's login rules that an operator may tune.
struct LoginPolicy {
  /// A card is renewed every 4 years: older enrolments are refused.
  std::chrono::days enrolment_renewal{4 * 365 + 1};
  /// How long the card has to sign a challenge (the person is putting a finger on the sensor).
  std::chrono::seconds challenge_lifetime{120};
};

/// The users CA and its CRL, as the login checks card certificates against them.
struct CardAuthority {
  const X509* certificate = nullptr;
  const X509_CRL* crl = nullptr;  ///< may be null (no CRL published yet)
};

/// Refusal reasons, as sent to the box and written to the audit (stable identifiers).
namespace refusal {
inline constexpr const char* kProtocol = "protocol_error";
inline constexpr const char* kCertificateInvalid = "card_certificate_invalid";
inline constexpr const char* kCardUnknown = "card_unknown";
inline constexpr const char* kCardSuspended = "card_suspended";
inline constexpr const char* kCardRevoked = "card_revoked";
inline constexpr const char* kEnrolmentExpired = "enrolment_expired";
inline constexpr const char* kUserDisabled = "user_disabled";
inline constexpr const char* kNoProjectToday = "no_project_today";
inline constexpr const char* kProjectNotOpen = "project_not_open";
inline constexpr const char* kNoDesktop = "no_desktop";
inline constexpr const char* kNoDesktopAccount = "no_desktop_account";
inline constexpr const char* kChallengeExpired = "challenge_expired";
inline constexpr const char* kBadSignature = "bad_signature";
inline constexpr const char* kStore = "broker_unavailable";
}  // namespace refusal

/// One tunnel's login conversation, from the card certificate to "session ready". It holds no
/// I/O: the tunnel feeds it the box's frames and sends back what it answers. Every step and every
/// refusal is audited. After a refusal the conversation starts over (the box may try again on
/// the same tunnel); a protocol violation asks the tunnel to close.
class LoginSession {
 public:
  struct Config {
    Store* store = nullptr;
    const Clock* clock = nullptr;
    LoginPolicy policy;
    CardAuthority users_ca;
    std::string box;             ///< the box's name, from its verified certificate
    std::string site;
    Bytes tunnel_exporter;       ///< this tunnel's RFC 8446 exporter value (login::kExporterLabel)
    /// Told each login's outcome ("success" or the refusal reason) and how long it took from
    /// login_begin (zero for a refusal before it); may be empty.
    std::function<void(const std::string& outcome, std::chrono::duration<double> took)> login_finished{};
  };

  struct Reply {
    std::optional<wire::Frame> frame;  ///< nothing to send (an audited box event)
    bool close_tunnel = false;
  };

  explicit LoginSession(Config config);

  /// Handles one login frame from the box (login_begin, choose_project, login_proof, login_event).
  Reply handle(const wire::Frame& frame);

  /// What the last successful login opened: the session, the project's desktop and this
  /// member's account on it (the gateway logs in with it).
  struct Assignment {
    Session session;
    Desktop desktop;
    DesktopAccount account;
    std::string card_serial;  ///< the card that proved this login
  };
  [[nodiscard]] const std::optional<Assignment>& assignment() const { return assignment_; }

 private:
  enum class Step { idle, projects_offered, challenged };

  Reply begin(const nlohmann::json& body);
  Reply choose(const nlohmann::json& body);
  Reply prove(const nlohmann::json& body);
  Reply card_event(const nlohmann::json& body);
  Reply refuse(const std::string& reason, const std::string& message, bool close = false);
  void finished(const std::string& outcome);
  void audit(const std::string& action, const std::string& outcome, nlohmann::json details);
  std::optional<std::string> refusal_now();
  Result<std::vector<Project>> projects_today();
  Result<bool> open_today(const std::string& project);

  Config config_;
  Step step_ = Step::idle;
  std::optional<User> user_;
  std::optional<Card> card_;
  crypto::PKey card_key_;
  std::string project_;
  Bytes challenge_;
  Clock::TimePoint challenge_issued_;
  std::optional<std::chrono::steady_clock::time_point> begun_at_;
  std::optional<Assignment> assignment_;
};

}  // namespace sdbox::broker
