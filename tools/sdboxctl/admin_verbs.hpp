#pragma once
// The admin verbs of sdboxctl: provisioning the broker's state (its store and its PKI) on the
// broker host. The verbs see the Store role and plain functions for the card reader and the
// terminal; only main builds the concrete SQLite store, PC/SC reader and clock.

#include "card_personalisation.hpp"

#include "pki/pki.hpp"
#include "store/store.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/clock.hpp"
#include "sdbox/common/result.hpp"

#include <chrono>
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
/// The machine failed: state directory, store, PKI files, card reader, OpenSSL.
inline constexpr int failed = 3;
}  // namespace exit_status

/// The exit status an error deserves (see `exit_status`).
int exit_status_for(const Error& error);
/// The error as one line for people: store, usage and config errors are already worded for
/// them; the others keep their category (pcsc, crypto, io) as a hint of where to look.
std::string describe_for_admin(const Error& error);

/// "local:<login name>" of the user running sdboxctl: who the audit trail names for a change.
std::string local_actor();

/// How a listing is printed: aligned columns for people, one JSON array for scripts.
enum class OutputFormat { text, json };

/// Opens the store file; `create` false refuses a file that does not exist yet.
using StoreOpener =
    std::function<Result<std::unique_ptr<broker::Store>>(const std::filesystem::path& file, bool create)>;
/// Personalises the card in the first reader whose name starts with `reader_prefix`.
using CardPersonaliser = std::function<Result<PersonalisedCard>(const std::string& reader_prefix,
                                                                const CaDirectory& ca, const CardProfile& profile)>;
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

/// Every other admin verb, on a store and PKI that exist. A verb checks what it can before it
/// changes anything; the store writes each change with its audit record atomically, and files a
/// verb creates are removed again when it fails.
class AdminVerbs {
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

  Status add_site(const std::string& name);
  Status list_sites(OutputFormat format);

  struct NewBox {
    std::string name;
    std::string site;
    std::filesystem::path bundle_directory;  ///< must not exist, or be empty
    std::chrono::hours validity{24 * 825};
  };
  /// Issues the box's device certificate (CN = box name) from the boxes CA into
  /// `bundle_directory` and registers the box.
  Status add_box(const NewBox& box);
  Status list_boxes(OutputFormat format);
  /// Revokes the box in the store, then rewrites boxes.crl with every revoked box.
  Status revoke_box(const std::string& name, const std::string& reason);

  Status add_user(const std::string& login, const std::string& full_name);
  Status list_users(OutputFormat format);

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
  /// Personalises the card in the reader from the users CA for an existing user (the holder
  /// name is the user's full name) and registers its certificate.
  Status issue_card(CardIssue issue, const CardPersonaliser& personalise, const SecretReader& read_secret);
  Status list_cards(OutputFormat format);

  /// Which card: by certificate serial, or the user's only card that is not revoked.
  struct CardChoice {
    std::string certificate_serial;
    std::string login;
  };
  /// active <-> suspended, or revoked (final, and users.crl is rewritten).
  Status set_card_state(const CardChoice& choice, broker::CardState state, const std::string& reason);

  Status add_project(const std::string& name, const std::string& title);
  Status list_projects(OutputFormat format);

  /// `from` and `until` as YYYY-MM-DD, both days included.
  Status add_member(const std::string& login, const std::string& project, const std::string& from,
                    const std::string& until);
  Status list_members(OutputFormat format);

  Status set_desktop(const std::string& project, const std::string& host, std::uint16_t port,
                     const std::string& certificate_sha256, const std::string& logoff_endpoint);
  /// `password_file`: its first line is the secret; "-" reads standard input.
  Status set_desktop_account(const std::string& project, const std::string& user, const std::string& login,
                             const std::filesystem::path& password_file);
  Status list_desktops(OutputFormat format);

  Status list_sessions(OutputFormat format);

  /// Ends a membership now (final): the broker ends the member's live views of the project.
  Status end_member(std::int64_t id, const std::string& reason);

  struct NewStaff {
    std::string name;
    broker::StaffRole role = broker::StaffRole::auditor;
    std::filesystem::path bundle_directory;  ///< must not exist, or be empty
    std::chrono::hours validity{24 * 365};
  };
  /// Issues a staff client certificate (CN = name) from the staff CA into `bundle_directory`
  /// and registers the member with their role: what opens the admin API.
  Status add_staff(const NewStaff& staff);
  Status list_staff(OutputFormat format);
  /// Final: the certificate opens nothing from its next request on.
  Status revoke_staff(const std::string& name, const std::string& reason);

  Status list_audit(const broker::AuditQuery& query, OutputFormat format);
  /// Prints the verdict; true when the chain is intact.
  Result<bool> verify_audit(OutputFormat format);

  /// Rewrites boxes.crl and users.crl from the store: CRLs expire (30 days), and this repairs a
  /// revocation whose CRL could not be written.
  Status refresh_crls();

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

/// "3A:F0:12" or "3af012" -> "3af012", the form the store and CRLs use; usage error otherwise.
Result<std::string> normalise_serial(std::string_view text);

}  // namespace sdbox::ctl
