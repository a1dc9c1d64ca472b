#pragma once
// The admin verbs on sdboxctl's command line (CLI11): what each verb takes, and running the one
// that was chosen, on the state directory (--state) or through the broker's admin API (--broker).

#include "admin_verbs.hpp"
#include "remote_admin_verbs.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sdbox::ctl {

/// The exit statuses, as the --help footer tells them.
std::string exit_status_help();

/// Connects to the broker's admin API at `url` with the staff bundle in `staff_directory`
/// (`BrokerClient::create`): a `usage` error for a bad URL, a `config` error for a bad bundle.
using BrokerConnector =
    std::function<Result<ApiCall>(const std::string& url, const std::filesystem::path& staff_directory)>;

class AdminCommandLine {
 public:
  /// What running a verb needs from outside; main builds the concrete ones.
  struct Dependencies {
    const Clock* clock = nullptr;
    StoreOpener open_store;
    BrokerConnector connect_broker;
    CardPersonaliser personalise_card;
    SecretReader read_secret;
    std::string actor;
    std::ostream* out = nullptr;
  };

  /// Adds `--state`, `--broker`, `--staff` and the admin verbs to `app`, and the card verbs to
  /// `card_command`. CLI11 keeps pointers to this object's members: it must outlive parsing and
  /// stay where it is.
  AdminCommandLine(CLI::App& app, CLI::App& card_command);
  AdminCommandLine(const AdminCommandLine&) = delete;
  AdminCommandLine& operator=(const AdminCommandLine&) = delete;

  /// True when the parsed command line names one of the admin verbs.
  [[nodiscard]] bool chosen() const;
  /// Runs the chosen verb, through the broker's API when `--broker` (or $SDBOX_BROKER without
  /// `--state`) names one; the exit status when it ran (0, or 1 for a broken audit chain).
  /// A verb that cannot run there is a usage error, before anything is opened.
  Result<int> run(const Dependencies& dependencies) const;
  /// `card issue`, so main can add the finger enrolment to it and run it on the same card after.
  [[nodiscard]] CLI::App* card_issue() const { return card_issue_; }
  [[nodiscard]] const std::string& management_key_hex() const { return management_key_hex_; }
  [[nodiscard]] const std::string& reader_prefix() const { return reader_prefix_; }

 private:
  /// A verb's work once the store is open or the broker reached; the dependencies give card
  /// issue its reader and terminal.
  using Action = std::function<Result<int>(AdminActions&, const Dependencies&)>;
  /// Where a verb can run.
  enum class Reach { anywhere, broker_host, through_broker };
  struct Verb {
    CLI::App* command = nullptr;
    Action action;
    Reach reach = Reach::anywhere;
    std::string_view why;  ///< why it runs only there (`only_here`)
  };
  CLI::App* add_verb(CLI::App& parent, const std::string& name, const std::string& description, Action action,
                     Reach reach = Reach::anywhere, std::string_view why = {});
  CLI::App* add_listing(CLI::App& parent, const std::string& description,
                        std::function<Status(AdminActions&, OutputFormat)> list, Reach reach = Reach::anywhere,
                        std::string_view why = {});
  [[nodiscard]] OutputFormat format() const { return json_ ? OutputFormat::json : OutputFormat::text; }
  [[nodiscard]] Result<int> run_locally(const Verb& verb, const Dependencies& dependencies) const;
  [[nodiscard]] Result<int> run_through_broker(const Verb& verb, const Dependencies& dependencies) const;

  std::filesystem::path state_directory_;
  std::string broker_url_;
  std::filesystem::path staff_directory_;
  CLI::Option* state_option_ = nullptr;
  CLI::Option* broker_option_ = nullptr;
  CLI::App* pki_init_ = nullptr;
  CLI::App* card_issue_ = nullptr;
  std::vector<Verb> verbs_;

  // Option values. Only one verb runs per invocation, so verbs share the ones they have in common.
  bool json_ = false;
  std::vector<std::string> server_names_ = {"DNS:localhost", "IP:127.0.0.1"};
  std::string name_;
  std::string site_;
  std::string bundle_directory_;
  int box_days_ = 825;
  int card_days_ = 365 * 4;
  std::string reason_;
  std::string login_;
  std::string full_name_;
  std::string title_;
  std::string project_;
  std::string from_;
  std::string until_;
  std::string host_;
  int port_ = 0;
  std::string certificate_sha256_;
  std::string logoff_endpoint_;
  std::string desktop_login_;
  std::filesystem::path password_file_;
  std::string serial_;
  std::string pin_;
  std::string puk_;
  std::string current_pin_ = "123456";
  std::string current_puk_ = "12345678";
  std::string management_key_hex_;
  std::string reader_prefix_;
  std::int64_t after_sequence_ = 0;
  std::size_t limit_ = 1000;
  std::string action_prefix_;
  std::int64_t membership_id_ = 0;
  std::int64_t session_id_ = 0;
  std::string role_;
  int staff_days_ = 365;
};

}  // namespace sdbox::ctl
