// sdboxctl: the SD-Box administration tool. The broker's state (store and PKI: sites, boxes,
// users, cards, projects, memberships, desktops, audit), on the broker host or through its admin
// API, and the card station (personalisation, fingers). This file builds the concrete parts; the
// verbs live in admin_verbs / remote_admin_verbs / admin_cli.
#include "admin_cli.hpp"
#include "admin_verbs.hpp"
#include "broker_client.hpp"
#include "card_personalisation.hpp"
#include "finger_enrolment.hpp"

#include "card/pcsc_card_reader.hpp"
#include "card/piv_client.hpp"
#include "finger/fprint_sensor.hpp"
#include "store/sqlite_store.hpp"

#include "sdbox/common/clock.hpp"
#include "sdbox/common/crypto.hpp"
#include "sdbox/common/image.hpp"
#include "sdbox/common/log.hpp"
#include "sdbox/common/piv.hpp"
#include "sdbox/common/terminal.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <optional>

namespace {

using namespace sdbox;

int fail(const Error& error) {
  std::cerr << "sdboxctl: " << ctl::describe_for_admin(error) << "\n";
  return ctl::exit_status_for(error);
}

Result<std::string> secret_option(const std::string& given, std::string_view prompt) {
  if (!given.empty()) return given;
  return read_secret(prompt);
}

/// Personalises the card in the reader over PC/SC, exclusively, so nothing else talks to it meanwhile.
Result<ctl::PersonalisedCard> personalise_in_reader(const std::string& reader_prefix,
                                                    const ctl::CertificateIssuer& issue,
                                                    const ctl::CardProfile& profile) {
  boost::asio::io_context unused;
  auto reader = firmware::PcscCardReader::create({unused.get_executor(), reader_prefix, true});
  auto channel = reader->connect();
  if (!channel) return channel.error();
  firmware::PivClient card(**channel);
  return ctl::personalise_card(card, issue, profile);
}

Result<ctl::ApiCall> connect_broker(const std::string& url, const std::filesystem::path& staff_directory) {
  auto client = ctl::BrokerClient::create({url, staff_directory});
  if (!client) return client.error();
  return ctl::ApiCall([client = std::move(*client)](std::string_view method, std::string_view target,
                                                    const std::optional<nlohmann::json>& body) {
    return client.call(method, target, body);
  });
}

Result<std::unique_ptr<broker::Store>> open_sqlite_store(const Clock& clock, const std::filesystem::path& file,
                                                         bool create) {
  auto store = broker::SqliteStore::create({file, &clock, create});
  if (!store) return store.error();
  return std::unique_ptr<broker::Store>(std::move(*store));
}

/// What `card enrol-finger` (and `card issue --finger`) needs.
struct FingerEnrolment {
  std::string finger_name;
  std::vector<std::string> image_paths;
  bool from_sensor = false;
  int sensor_captures = 4;
  double image_dpi = 500;
  std::string management_key_hex;
  std::string reader_prefix;
};

int enrol_in_reader(const FingerEnrolment& request) {
  const auto& finger_name = request.finger_name;
  const auto& image_paths = request.image_paths;
  const double image_dpi = request.image_dpi;
  auto position = ctl::finger_position_from_name(finger_name);
  if (!position) return fail(position.error());
  ctl::EnrolmentOptions options;
  options.finger_position = *position;
  options.captures = static_cast<int>(image_paths.size());
  if (!from_hex(request.management_key_hex, options.management_key)) {
    return fail(make_error(ErrorCategory::usage, "--management-key is not hex"));
  }
  if (!request.from_sensor && image_paths.empty()) {
    return fail(make_error(ErrorCategory::usage, "give --images FILE... or --sensor"));
  }
  boost::asio::io_context io;
  std::unique_ptr<firmware::FprintSensor> sensor;
  if (request.from_sensor) {
    auto created = firmware::FprintSensor::create({io.get_executor(), image_dpi});
    if (!created) return fail(created.error());
    sensor = std::move(*created);
    options.captures = request.sensor_captures;
  }
  std::size_t next = 0;
  auto capture = [&]() -> Result<GrayImage> {
    if (!sensor) {
      auto image = read_image(image_paths.at(next++), image_dpi);
      if (image) image->dpi = image_dpi;
      return image;
    }
    std::cout << "place the " << finger_name << " on the sensor (" << ++next << "/" << options.captures << ")"
              << std::endl;
    std::optional<Result<GrayImage>> result;
    sensor->capture([&](Result<GrayImage> image) { result.emplace(std::move(image)); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!result && std::chrono::steady_clock::now() < deadline) {
      io.run_for(std::chrono::milliseconds(20));
      io.restart();
    }
    if (!result) {
      sensor->cancel();
      return make_error(ErrorCategory::usage, "no finger on the sensor within 60 s");
    }
    return std::move(*result);
  };
  auto reader = firmware::PcscCardReader::create({io.get_executor(), request.reader_prefix, true});
  auto channel = reader->connect();
  if (!channel) return fail(channel.error());
  firmware::PivClient card(**channel);
  auto enrolled = ctl::enrol_finger(card, capture, options);
  if (!enrolled) return fail(enrolled.error());
  std::cout << finger_name << " enrolled as reference " << fmt::format("{:02X}", enrolled->reference) << ": "
            << enrolled->minutiae << " minutiae, best of " << enrolled->captures_used << " usable captures\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdboxctl: SD-Box administration"};
  app.require_subcommand(1);
  app.footer(ctl::exit_status_help());
  // Global options (--state, --log-level) may also follow the verb.
  app.fallthrough();
  std::string level = "warn";
  app.add_option("--log-level", level, "trace, debug, info, warn, error");

  auto* ca_command = app.add_subcommand("ca", "certificate authorities kept in a directory")->require_subcommand(1);
  auto* ca_init = ca_command->add_subcommand("init", "create a P-256 CA (ca.crt, ca.key) in a new directory");
  std::string ca_dir;
  std::string ca_name = "SD-Box card CA";
  int ca_days = 3650;
  ca_init->add_option("--dir", ca_dir, "directory to create the CA in")->required();
  ca_init->add_option("--name", ca_name, "the CA's common name");
  ca_init->add_option("--days", ca_days, "validity in days")->check(CLI::Range(1, 36500));

  auto* card_command = app.add_subcommand("card", "smartcards")->require_subcommand(1);
  auto* card_init = card_command->add_subcommand(
      "init", "personalise the card in the reader: key on card, certificate from --ca, PIN, PUK, management key");
  std::string reader_prefix;
  std::string holder;
  std::string pin, puk, current_pin = "123456", current_puk = "12345678";
  std::string management_key_hex(piv::kDefaultManagementKeyHex);
  std::string new_management_key_hex;
  int card_days = 365 * 4;
  bool quiet = false;
  bool json = false;
  card_init->add_option("--ca", ca_dir, "CA directory (ca.crt, ca.key) that signs the card certificate")->required();
  card_init->add_option("--name", holder, "card holder's name (certificate common name)")->required();
  card_init->add_option("--pin", pin, "new PIN, 6-8 digits (asked without echo when absent)");
  card_init->add_option("--puk", puk, "new PUK, 6-8 digits (asked without echo when absent)");
  card_init->add_option("--current-pin", current_pin, "the card's current PIN");
  card_init->add_option("--current-puk", current_puk, "the card's current PUK");
  card_init->add_option("--management-key", management_key_hex, "the card's current 3DES management key (hex)");
  card_init->add_option("--new-management-key", new_management_key_hex, "a new 3DES management key to set (hex)");
  card_init->add_option("--days", card_days, "certificate validity in days (renewal period)")->check(CLI::Range(1, 3650));
  card_init->add_option("--reader", reader_prefix, "use the first reader whose name starts with this");
  card_init->add_flag("--quiet", quiet, "print nothing on success");
  card_init->add_flag("--json", json, "print the result as JSON");
  auto* enrol = card_command->add_subcommand(
      "enrol-finger", "capture a finger several times and store the best reference on the card (at most two fingers)");
  std::string finger_name = "right-index";
  std::vector<std::string> image_paths;
  double image_dpi = 500;
  enrol->add_option("--finger", finger_name, "which finger: right-index, left-thumb, ...");
  bool from_sensor = false;
  int sensor_captures = 4;
  auto* images_option =
      enrol->add_option("--images", image_paths, "captures as image files (TIFF or PGM), one per capture");
  auto* sensor_option = enrol->add_flag("--sensor", from_sensor, "capture from the fingerprint sensor (libfprint)");
  enrol->add_option("--captures", sensor_captures, "captures to take from the sensor")->check(CLI::Range(2, 10));
  images_option->excludes(sensor_option);
  enrol->require_option(1, 0);
  enrol->add_option("--dpi", image_dpi, "resolution of the images")->check(CLI::Range(250.0, 2000.0));
  enrol->add_option("--management-key", management_key_hex, "the card's 3DES management key (hex)");
  enrol->add_option("--reader", reader_prefix, "use the first reader whose name starts with this");
  ctl::AdminCommandLine admin(app, *card_command);
  // The enrolment station does it all with the card in the reader: personalise, then the finger.
  FingerEnrolment issue_finger;
  auto* issue_finger_option = admin.card_issue()->add_option(
      "--finger", issue_finger.finger_name, "then enrol this finger (right-index, left-thumb, ...)");
  auto* issue_images_option = admin.card_issue()->add_option(
      "--finger-images", issue_finger.image_paths, "the finger's captures as image files (TIFF or PGM)");
  auto* issue_sensor_option =
      admin.card_issue()->add_flag("--finger-sensor", issue_finger.from_sensor, "capture the finger from the sensor");
  admin.card_issue()->add_option("--finger-dpi", issue_finger.image_dpi, "resolution of the finger images")
      ->check(CLI::Range(250.0, 2000.0));
  issue_images_option->excludes(issue_sensor_option);
  issue_images_option->needs(issue_finger_option);
  issue_sensor_option->needs(issue_finger_option);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help is a "parse error" that succeeds; every other one is a usage error.
    if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(error);
    std::cerr << "sdboxctl: " << error.what() << " (see sdboxctl --help)\n";
    return ctl::exit_status::usage;
  }
  log::init("sdboxctl", level);

  if (admin.chosen()) {
    const SystemClock clock;
    ctl::AdminCommandLine::Dependencies dependencies;
    dependencies.clock = &clock;
    dependencies.open_store = [&clock](const std::filesystem::path& file, bool create) {
      return open_sqlite_store(clock, file, create);
    };
    dependencies.connect_broker = connect_broker;
    dependencies.personalise_card = personalise_in_reader;
    dependencies.read_secret = read_secret;
    dependencies.actor = ctl::local_actor();
    dependencies.out = &std::cout;
    if (admin.card_issue()->parsed() && issue_finger_option->count() > 0 && issue_images_option->count() == 0 &&
        !issue_finger.from_sensor) {
      return fail(make_error(ErrorCategory::usage, "--finger needs --finger-images FILE... or --finger-sensor"));
    }
    auto status = admin.run(dependencies);
    if (!status) return fail(status.error());
    if (*status == 0 && admin.card_issue()->parsed() && issue_finger_option->count() > 0) {
      issue_finger.management_key_hex = admin.management_key_hex();
      issue_finger.reader_prefix = admin.reader_prefix();
      return enrol_in_reader(issue_finger);
    }
    return *status;
  }

  if (*enrol) {
    return enrol_in_reader({finger_name, image_paths, from_sensor, sensor_captures, image_dpi, management_key_hex,
                            reader_prefix});
  }

  if (*ca_init) {
    if (auto made = ctl::create_ca({ca_dir}, ca_name, std::chrono::hours(24 * ca_days)); !made) return fail(made.error());
    std::cout << "CA created in " << ca_dir << "\n";
    return 0;
  }
  if (*card_init) {
    // The CA before the terminal asks for codes: a broken CA stops before anything is typed.
    auto issuer = ctl::issuer_from_ca({ca_dir});
    if (!issuer) return fail(issuer.error());
    ctl::CardProfile profile;
    profile.holder_name = holder;
    profile.current_pin = current_pin;
    profile.current_puk = current_puk;
    profile.validity = std::chrono::hours(24 * card_days);
    if (!from_hex(management_key_hex, profile.management_key)) {
      return fail(make_error(ErrorCategory::usage, "--management-key is not hex"));
    }
    if (!new_management_key_hex.empty()) {
      Bytes key;
      if (!from_hex(new_management_key_hex, key)) return fail(make_error(ErrorCategory::usage, "--new-management-key is not hex"));
      profile.new_management_key = std::move(key);
    }
    auto new_pin = secret_option(pin, "new PIN: ");
    if (!new_pin) return fail(new_pin.error());
    auto new_puk = secret_option(puk, "new PUK: ");
    if (!new_puk) return fail(new_puk.error());
    profile.new_pin = *new_pin;
    profile.new_puk = *new_puk;

    auto done = personalise_in_reader(reader_prefix, *issuer, profile);
    secure_wipe(profile.new_pin);
    secure_wipe(profile.new_puk);
    if (!done) return fail(done.error());
    if (json) {
      std::cout << nlohmann::json{{"subject", done->subject}, {"serial", to_hex(done->serial)},
                                  {"certificate_sha256", to_hex(crypto::sha256(done->certificate_der))}}
                       .dump()
                << "\n";
    } else if (!quiet) {
      std::cout << "card personalised: " << done->subject << ", serial " << to_hex(done->serial) << "\n";
    }
    return 0;
  }
  return 1;
}
