// sdbox-firmware: the box agent. `run` is the box: the login screen on this terminal. The card
// commands are for people to try a card by hand.
#include "sdbox/common/terminal.hpp"
#include "card/pcsc_card_reader.hpp"
#include "card/piv_client.hpp"
#include "config/box_config.hpp"
#include "desktop/process_rdp_client.hpp"
#include "finger/fprint_sensor.hpp"
#include "login/console.hpp"
#include "login/login_machine.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/log.hpp"
#include "sdbox/common/piv.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <unistd.h>
#include <iostream>
#include <iterator>

namespace {

using namespace sdbox;
using firmware::PinCheck;

int fail(const Error& error) {
  std::cerr << "error: " << error.describe() << "\n";
  return 1;
}

std::string not_after(const X509& certificate) {
  const ASN1_TIME* time = X509_get0_notAfter(&certificate);
  tm parsed{};
  if (ASN1_TIME_to_tm(time, &parsed) != 1) return "?";
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d", &parsed);
  return text;
}

int card_status(firmware::PcscCardReader& reader) {
  auto channel = reader.connect();
  if (!channel) return fail(channel.error());
  firmware::PivClient card(**channel);
  if (auto selected = card.select(); !selected) return fail(selected.error());
  std::cout << "PIV application: present\n";
  if (auto serial = card.serial()) std::cout << "serial: " << to_hex(*serial) << "\n";
  auto der = card.read_certificate(piv::key::kAuthentication);
  if (!der) {
    std::cout << "slot 9A (PIV authentication): no certificate (" << der.error().message << ")\n";
  } else if (auto certificate = crypto::certificate_from_der(*der)) {
    std::cout << "slot 9A (PIV authentication): " << crypto::certificate_subject(**certificate) << ", valid until "
              << not_after(**certificate) << "\n";
  } else {
    std::cout << "slot 9A (PIV authentication): unreadable certificate\n";
  }
  auto pin = card.pin_status();
  if (!pin) return fail(pin.error());
  if (pin->blocked) {
    std::cout << "PIN: blocked (unblock with the PUK)\n";
  } else if (pin->verified) {
    std::cout << "PIN: verified\n";
  } else {
    std::cout << "PIN: " << pin->tries_left << " tries left\n";
  }
  return 0;
}

int card_sign(firmware::PcscCardReader& reader, const std::string& message, const std::string& output) {
  auto channel = reader.connect();
  if (!channel) return fail(channel.error());
  firmware::PivClient card(**channel);
  if (auto selected = card.select(); !selected) return fail(selected.error());
  auto der = card.read_certificate(piv::key::kAuthentication);
  if (!der) return fail(der.error());
  auto certificate = crypto::certificate_from_der(*der);
  if (!certificate) return fail(certificate.error());

  auto pin = read_secret("PIN: ");
  if (!pin) return fail(pin.error());
  auto check = card.verify_pin(*pin);
  secure_wipe(*pin);
  if (!check) return fail(check.error());
  if (check->outcome == PinCheck::Outcome::blocked) {
    std::cerr << "error: the card is blocked: unblock it with the PUK\n";
    return 3;
  }
  if (check->outcome == PinCheck::Outcome::wrong) {
    std::cerr << "error: wrong PIN, " << check->tries_left << " tries left\n";
    return 2;
  }
  const Bytes digest = crypto::sha256(bytes_of(message));
  auto signature = card.sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
  if (!signature) return fail(signature.error());
  auto public_key = crypto::certificate_public_key(**certificate);
  if (!public_key) return fail(public_key.error());
  auto valid = crypto::ecdsa_verify_digest(**public_key, digest, *signature);
  if (!output.empty()) {
    std::ofstream out(output, std::ios::binary);
    out.write(reinterpret_cast<const char*>(signature->data()), static_cast<std::streamsize>(signature->size()));
  }
  std::cout << "signer: " << crypto::certificate_subject(**certificate) << "\n";
  std::cout << "sha256: " << to_hex(digest) << "\n";
  std::cout << "signature (DER): " << to_hex(*signature) << "\n";
  std::cout << "verified against the card certificate: " << ((valid && *valid) ? "yes" : "NO") << "\n";
  return valid && *valid ? 0 : 1;
}

int card_watch(boost::asio::io_context& io, firmware::PcscCardReader& reader) {
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  reader.watch([](const firmware::CardEvent& event) {
    const bool inserted = event.kind == firmware::CardEvent::Kind::inserted;
    std::cout << (inserted ? "card inserted" : "card removed") << " reader=\"" << event.reader << "\"";
    if (inserted) std::cout << " atr=" << to_hex(event.atr);
    std::cout << std::endl;
  });
  io.run();
  reader.stop();
  return 0;
}

int run_box(const std::filesystem::path& config_file, const std::filesystem::path& runtime_directory,
            const std::filesystem::path& screenshot, const std::filesystem::path& view_program, bool on_screen) {
  auto config = firmware::load_box_config(config_file);
  if (!config) return fail(config.error());
  // The desktop stream's socket lives here: only this agent may enter.
  std::error_code made;
  std::filesystem::create_directories(runtime_directory, made);
  std::filesystem::permissions(runtime_directory, std::filesystem::perms::owner_all, made);
  if (made || !std::filesystem::is_directory(runtime_directory)) {
    return fail(make_error(ErrorCategory::config, "--runtime-dir " + runtime_directory.string() + " cannot be made private"));
  }
  boost::asio::io_context io(1);
  auto reader = firmware::PcscCardReader::create({io.get_executor(), config->reader, false});
  auto sensor = firmware::FprintSensor::create({io.get_executor(), config->sensor_dpi});
  if (!sensor) return fail(sensor.error());
  auto tunnel = firmware::TunnelClient::create(
      {io.get_executor(), config->broker, firmware::BoxIdentity::from_bundle(config->bundle)});
  if (!tunnel) return fail(tunnel.error());
  firmware::ConsoleScreen screen(std::cout);
  firmware::LoginMachine::Settings settings;
  settings.retry_interval = config->retry_interval;
  settings.sensor_dpi = config->sensor_dpi;
  firmware::ProcessRdpClient rdp({io.get_executor(), view_program, 1280, 800, on_screen});
  auto machine = firmware::LoginMachine::create({io.get_executor(), reader.get(), sensor->get(), tunnel->get(), &screen,
                                                 &rdp, runtime_directory / "desktop.sock", settings});
  firmware::ConsoleKeyboard keyboard(io.get_executor(), STDIN_FILENO);
  keyboard.start([&](char key) { machine->on_key(key); });
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) {
    machine->stop();
    io.stop();
  });
  // SIGUSR1: what the box shows of the desktop, saved for support (and the demo).
  boost::asio::signal_set screenshot_signal(io, SIGUSR1);
  std::function<void()> await_screenshot = [&] {
    screenshot_signal.async_wait([&](const boost::system::error_code& error, int) {
      if (error) return;
      if (!screenshot.empty() && rdp.running()) rdp.save_screenshot(screenshot);
      await_screenshot();
    });
  };
  await_screenshot();
  machine->start();
  io.run();
  keyboard.stop();
  std::cout << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdbox-firmware: the SD-Box agent"};
  app.require_subcommand(1);
  std::string reader_prefix;
  std::string level;
  app.add_option("--reader", reader_prefix, "use the first reader whose name starts with this");
  app.add_option("--log-level", level, "trace, debug, info, warn, error");

  auto* status = app.add_subcommand("card-status", "show the card in the reader: certificate, PIN tries");
  auto* sign = app.add_subcommand("card-sign", "sign a message with the card's PIV authentication key");
  std::string message = "SD-Box card-sign test message";
  std::string output;
  sign->add_option("--message", message, "text to sign (its SHA-256 is signed)");
  sign->add_option("--out", output, "write the DER signature to this file");
  auto* watch = app.add_subcommand("card-watch", "print card insertions and removals until interrupted");
  auto* run = app.add_subcommand("run", "the box: tunnel to the broker and the login screen on this terminal");
  std::filesystem::path config_file = "/etc/sdbox/box.conf";
  run->add_option("--config", config_file, "the box configuration file");
  std::filesystem::path runtime_directory = "/run/sdbox";
  run->add_option("--runtime-dir", runtime_directory, "private directory for the desktop stream's socket (made 0700)");
  std::filesystem::path screenshot;
  run->add_option("--screenshot", screenshot, "on SIGUSR1, save the desktop as the box shows it here (PPM)");
  // The desktop client beside this program (it renders in memory for now; the display adapter next).
  std::filesystem::path view_program = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "sdbox-desktop-view";
  run->add_option("--desktop-view", view_program, "the desktop client program (sdbox-desktop-view's protocol)")
      ->check(CLI::ExistingFile);
  std::string screen_kind = std::getenv("DISPLAY") != nullptr ? "x11" : "memory";
  run->add_option("--screen", screen_kind, "x11: the desktop full-screen on $DISPLAY; memory: not drawn (default: x11 when $DISPLAY is set)")
      ->check(CLI::IsMember({"x11", "memory"}));
  CLI11_PARSE(app, argc, argv);

  log::init("firmware", level);
  if (*run) return run_box(config_file, runtime_directory, screenshot, view_program, screen_kind == "x11");
  boost::asio::io_context io;
  auto reader = firmware::PcscCardReader::create({io.get_executor(), reader_prefix, false});
  if (*status) return card_status(*reader);
  if (*sign) return card_sign(*reader, message, output);
  if (*watch) return card_watch(io, *reader);
  return 1;
}
