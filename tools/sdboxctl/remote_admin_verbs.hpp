#pragma once
// The admin verbs through the broker's admin API (docs/api.md), for `sdboxctl --broker URL
// --staff DIR`: the same verbs and output as on the broker host, as the member of staff whose
// certificate opens the API.

#include "admin_verbs.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <ostream>
#include <string_view>

namespace sdbox::ctl {

/// One call of the admin API: method, target (path and query), optional JSON body -> the body of
/// a 2xx answer, or the refusal as an Error that `exit_status_for` understands
/// (`BrokerClient::call`).
using ApiCall = std::function<Result<nlohmann::json>(std::string_view method, std::string_view target,
                                                     const std::optional<nlohmann::json>& body)>;

/// AdminActions over the admin API. What the API cannot do here is refused as a usage error:
/// staff and CRLs are handled on the broker host only (`broker_host_only`). Listings print the
/// API's JSON with the same printer and columns as the local verbs; `list_sessions` lists the
/// live sessions (`columns::live_sessions`).
class RemoteAdminVerbs final : public AdminActions {
 public:
  struct Config {
    ApiCall call;                 ///< required
    std::ostream* out = nullptr;  ///< required: what the verbs print
  };
  /// Missing dependencies are a bug (throws std::invalid_argument).
  static RemoteAdminVerbs create(Config config);

  /// The most records one `GET /api/v1/audit` answers; longer listings are fetched page by page.
  static constexpr std::size_t audit_page = 1000;

  Status add_site(const std::string& name) override;
  Status list_sites(OutputFormat format) override;
  Status add_box(const NewBox& box) override;
  Status list_boxes(OutputFormat format) override;
  Status revoke_box(const std::string& name, const std::string& reason) override;
  Status add_user(const std::string& login, const std::string& full_name) override;
  Status list_users(OutputFormat format) override;
  /// The key is generated on the card; the broker certifies its public point and registers the
  /// card in the same call (`POST /api/v1/cards`), before the certificate is written to the card.
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
  explicit RemoteAdminVerbs(Config config);
  Result<nlohmann::json> call(std::string_view method, std::string_view target,
                              const std::optional<nlohmann::json>& body = std::nullopt) const;
  Status print(std::string_view collection, OutputFormat format, const Columns& columns) const;
  /// The user's record from the API's listing; not_found like the store's refusal.
  Result<nlohmann::json> user(const std::string& login) const;

  ApiCall call_;
  std::ostream& out_;
};

/// `text` as one path segment of a URL: everything but unreserved characters %XX-encoded.
std::string path_segment(std::string_view text);

}  // namespace sdbox::ctl
