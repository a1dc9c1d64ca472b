#pragma once
// The admin verbs of sdboxctl: provisioning the broker's state (its store and its PKI), on the
// broker host (AdminVerbs) or through the broker's admin API (RemoteAdminVerbs). The verbs see
// the Store role and plain functions for the card reader and the terminal; only main builds the
// concrete SQLite store, PC/SC reader, API client and clock.

#include "card_personalisation.hpp"
#include "listing.hpp"

#include "pki/pki.hpp"
#include "store/store.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/clock.hpp"
#include "sdbox/common/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sdbox::ctl {

/// The broker's state directory (`--state`): the store and the PKI side by side, as
/// sdbox-broker reads them.
struct StateDirectory {
  std::filesystem::path directory;
  [[nodiscard]] std::filesystem::path database() const { return directory / "broker.db"; }
  [[nodiscard]] std::filesystem::path pki() const { return directory / "pki"; }
};

/// sdboxctl's exit statuses, so scripts can tell a refusal from a typo from a broken machine.
namespace exit_status {
inline constexpr int ok = 0;
/// Refused: a name that does not exist, one that exists already, a rule (a window that ends
/// before it starts, a revoked card), the card refused; `audit verify`: the chain is broken.
inline constexpr int refused = 1;
/// The command line is wrong: unknown verb or option, a missing option, a malformed value.
inline constexpr int usage = 2;
/// The machine failed: state directory, store, PKI files, card reader, OpenSSL, the broker
/// unreachable or failing.
inline constexpr int failed = 3;
}  // namespace exit_status

/// The exit status an error deserves (see `exit_status`).
int exit_status_for(const Error& error);
/// The error as one line for people: store, usage and config errors are already worded for
/// them; the others keep their category (pcsc, crypto, io) as a hint of where to look.
std::string describe_for_admin(const Error& error);

/// "local:<login name>" of the user running sdboxctl: who the audit trail names for a change.
std::string local_actor();

/// Opens the store file; `create` false refuses a file that does not exist yet.
using StoreOpener =
    std::function<Result<std::unique_ptr<broker::Store>>(const std::filesystem::path& file, bool create)>;
/// Personalises the card in the first reader whose name starts with `reader_prefix`, with the
/// certificate from `issue`.
using CardPersonaliser = std::function<Result<PersonalisedCard>(
    const std::string& reader_prefix, const CertificateIssuer& issue, const CardProfile& profile)>;
/// Asks for a secret (a PIN) without echo.
using SecretReader = std::function<Result<std::string>(std::string_view prompt)>;

/// `pki init`: the three CAs, the server certificate and empty CRLs in STATE/pki, the store
/// STATE/broker.db, and a `pki.init` audit record. Refuses a PKI that exists; on any failure
/// removes whatever it created.
struct PkiInitConfig {
  StateDirectory state;
  const Clock* clock = nullptr;
  std::string actor;
  StoreOpener open_store;
  std::ostream* out = nullptr;
};
Status init_pki(const PkiInitConfig& config, const std::vector<std::string>& server_names);

/// Why a verb runs in one place only: sdboxctl refuses it elsewhere with this reason.
namespace only_here {
inline constexpr std::string_view ca_keys = "it handles the CAs' keys";
inline constexpr std::string_view staff = "members of staff are managed beside the staff CA";
inline constexpr std::string_view logoff = "the broker logs the desktop session off";
inline constexpr std::string_view alerts = "alerts are kept by the running broker";
}  // namespace only_here
/// The usage error of a verb that runs on the broker host only (`--state`, not `--broker`).
Error broker_host_only(std::string_view verb, std::string_view why);
/// The usage error of a verb that runs through the broker's admin API only (`--broker`).
Error needs_broker(std::string_view verb, std::string_view why);

/// The admin verbs the command line calls, whether on the state directory of the broker host
/// (`AdminVerbs`) or through the broker's admin API (`RemoteAdminVerbs`). Both print the same:
/// listings from the records' JSON form with the same columns (see listing.hpp), the same line
/// after each change, and refusals that map to the same exit statuses. A verb checks what it can
/// before it changes anything. A verb that cannot run where the implementation works refuses
/// with `broker_host_only` or `needs_broker`.
class AdminActions {
 public:
  virtual ~AdminActions() = default;

  virtual Status add_site(const std::string& name) = 0;
  virtual Status list_sites(OutputFormat format) = 0;

  struct NewBox {
    std::string name;
    std::string site;
    std::filesystem::path bundle_directory;  ///< must not exist, or be empty
    std::chrono::hours validity{24 * 825};
  };
  /// Issues the box's device certificate (CN = box name) from the boxes CA, writes it with its
  /// key and the broker's CA into `bundle_directory`, and registers the box. The bundle is
  /// removed again when the box is not registered.
  virtual Status add_box(const NewBox& box) = 0;
  virtual Status list_boxes(OutputFormat format) = 0;
  /// Final: the box is refused from now on and boxes.crl is rewritten.
  virtual Status revoke_box(const std::string& name, const std::string& reason) = 0;

  virtual Status add_user(const std::string& login, const std::string& full_name) = 0;
  virtual Status list_users(OutputFormat format) = 0;

  struct CardIssue {
    std::string login;
    std::string new_pin;  ///< asked with the SecretReader when empty
    std::string new_puk;  ///< asked with the SecretReader when empty
    std::string current_pin = "123456";
    std::string current_puk = "12345678";
    Bytes management_key;
    std::string reader_prefix;
    std::chrono::hours validity{24 * 365 * 4};
  };
  /// Personalises the card in the reader for an existing user (checked before the card is
  /// touched; the holder name is the user's full name), with a certificate from the users CA,
  /// and registers it.
  virtual Status issue_card(CardIssue issue, const CardPersonaliser& personalise, const SecretReader& read_secret) = 0;
  virtual Status list_cards(OutputFormat format) = 0;

  /// Which card: by certificate serial, or the user's only card that is not revoked.
  struct CardChoice {
    std::string certificate_serial;
    std::string login;
  };
  /// active <-> suspended, or revoked (final, and users.crl is rewritten).
  virtual Status set_card_state(const CardChoice& choice, broker::CardState state, const std::string& reason) = 0;

  virtual Status add_project(const std::string& name, const std::string& title) = 0;
  virtual Status list_projects(OutputFormat format) = 0;

  /// `from` and `until` as YYYY-MM-DD, both days included.
  virtual Status add_member(const std::string& login, const std::string& project, const std::string& from,
                            const std::string& until) = 0;
  virtual Status list_members(OutputFormat format) = 0;
  /// Ends a membership now (final): the broker ends the member's live views of the project.
  virtual Status end_member(std::int64_t id, const std::string& reason) = 0;

  virtual Status set_desktop(const std::string& project, const std::string& host, std::uint16_t port,
                             const std::string& certificate_sha256, const std::string& logoff_endpoint) = 0;
  /// `password_file`: its first line is the secret; "-" reads standard input.
  virtual Status set_desktop_account(const std::string& project, const std::string& user, const std::string& login,
                                     const std::filesystem::path& password_file) = 0;
  virtual Status list_desktops(OutputFormat format) = 0;

  /// Locally the store's sessions (active and ended); through the API the live ones.
  virtual Status list_sessions(OutputFormat format) = 0;
  /// Ends a live session: its view closes and the desktop session is logged off (API only).
  virtual Status end_session(std::int64_t id, const std::string& reason) = 0;
  /// The broker's current alerts (API only).
  virtual Status list_alerts(OutputFormat format) = 0;

  struct NewStaff {
    std::string name;
    broker::StaffRole role = broker::StaffRole::auditor;
    std::filesystem::path bundle_directory;  ///< must not exist, or be empty
    std::chrono::hours validity{24 * 365};
  };
  /// Issues a staff client certificate (CN = name) from the staff CA into `bundle_directory`
  /// and registers the member with their role: what opens the admin API (broker host only).
  virtual Status add_staff(const NewStaff& staff) = 0;
  virtual Status list_staff(OutputFormat format) = 0;
  /// Final: the certificate opens nothing from its next request on (broker host only).
  virtual Status revoke_staff(const std::string& name, const std::string& reason) = 0;

  virtual Status list_audit(const broker::AuditQuery& query, OutputFormat format) = 0;
  /// Prints the verdict; true when the chain is intact.
  virtual Result<bool> verify_audit(OutputFormat format) = 0;

  /// Rewrites boxes.crl and users.crl from the store: CRLs expire (30 days), and this repairs a
  /// revocation whose CRL could not be written (broker host only).
  virtual Status refresh_crls() = 0;
};

/// The admin verbs on the broker host: a store and a PKI that exist. The store writes each
/// change with its audit record atomically.
class AdminVerbs final : public AdminActions {
 public:
  struct Config {
    broker::Store* store = nullptr;  ///< required
    std::filesystem::path pki_directory;
    const Clock* clock = nullptr;    ///< required
    std::string actor;               ///< "local:alice"
    std::ostream* out = nullptr;     ///< required: what the verbs print
  };
  /// Missing dependencies are a bug (throws std::invalid_argument).
  static AdminVerbs create(Config config);

  Status add_site(const std::string& name) override;
  Status list_sites(OutputFormat format) override;
  Status add_box(const NewBox& box) override;
  Status list_boxes(OutputFormat format) override;
  Status revoke_box(const std::string& name, const std::string& reason) override;
  Status add_user(const std::string& login, const std::string& full_name) override;
  Status list_users(OutputFormat format) override;
  Status issue_card(CardIssue issue, const CardPersonaliser& personalise, const SecretReader& read_secret) override;
  Status list_cards(OutputFormat format) override;
  Status set_card_state(const CardChoice& choice, broker::CardState state, const std::string& reason) override;
  Status add_project(const std::string& name, const std::string& title) override;
  Status list_projects(OutputFormat format) override;
  Status add_member(const std::string& login, const std::string& project, const std::string& from,
                    const std::string& until) override;
  Status list_members(OutputFormat format) override;
  Status end_member(std::int64_t id, const std::string& reason) override;
  Status set_desktop(const std::string& project, const std::string& host, std::uint16_t port,
                     const std::string& certificate_sha256, const std::string& logoff_endpoint) override;
  Status set_desktop_account(const std::string& project, const std::string& user, const std::string& login,
                             const std::filesystem::path& password_file) override;
  Status list_desktops(OutputFormat format) override;
  Status list_sessions(OutputFormat format) override;
  Status end_session(std::int64_t id, const std::string& reason) override;
  Status list_alerts(OutputFormat format) override;
  Status add_staff(const NewStaff& staff) override;
  Status list_staff(OutputFormat format) override;
  Status revoke_staff(const std::string& name, const std::string& reason) override;
  Status list_audit(const broker::AuditQuery& query, OutputFormat format) override;
  Result<bool> verify_audit(OutputFormat format) override;
  Status refresh_crls() override;

 private:
  explicit AdminVerbs(Config config);
  Result<std::string> chosen_card_serial(const CardChoice& choice);
  Result<std::size_t> rewrite_crl(broker::Pki::Authority authority);

  broker::Store& store_;
  broker::Pki pki_;
  const Clock& clock_;
  std::string actor_;
  std::ostream& out_;
};

/// What a change prints, from the changed record's JSON form (`broker::to_json`, which the API
/// answers with too): the same lines locally and through the API.
namespace confirmation {
std::string site_added(const nlohmann::json& site);
std::string box_added(const nlohmann::json& box, std::chrono::system_clock::time_point not_after,
                      const std::filesystem::path& bundle_directory);
std::string user_added(const nlohmann::json& user);
std::string card_issued(const nlohmann::json& card, const std::string& full_name,
                        std::chrono::system_clock::time_point not_after);
std::string card_state_changed(const nlohmann::json& card);
std::string project_added(const nlohmann::json& project);
std::string member_added(const nlohmann::json& membership);
std::string member_ended(const nlohmann::json& membership);
std::string desktop_set(const nlohmann::json& desktop);
/// `account`: {"project", "user", "login"}.
std::string desktop_account_set(const nlohmann::json& account);
}  // namespace confirmation

/// The serial of `login`'s only card that is not revoked, among `cards` (JSON form): refused
/// when they have none or several (then a card must be named by serial).
Result<std::string> only_card_of(const std::string& login, const nlohmann::json& cards);
/// A pinned desktop certificate digest: 64 hex digits, colons allowed -> lower-case hex; empty
/// stays empty (no pin). Anything else is a usage error.
Result<std::string> normalise_certificate_sha256(const std::string& text);
/// The card profile of `issue` for `holder_name`: current codes, management key, validity, and
/// the new PIN and PUK as given (then wiped from `issue`) or asked with `read_secret`.
Result<CardProfile> card_profile_for(const std::string& holder_name, AdminActions::CardIssue& issue,
                                     const SecretReader& read_secret);
/// The first line of `password_file` ("-": standard input); an unreadable file or an empty
/// password is a usage error.
Result<std::string> read_password_file(const std::filesystem::path& password_file);

}  // namespace sdbox::ctl
