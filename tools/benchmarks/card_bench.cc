// sdbox-bench-card: APDU round trip and signature throughput through the real PC/SC stack
// (private pcscd + vpcd + softcard process), against a baseline of the same card logic called
// in-process in the same run, so the figures say what the stack itself costs.
#include "card/pcsc_card_reader.hpp"
#include "card/piv_client.hpp"
#include "card_lab.hpp"
#include "card_personalisation.hpp"
#include "card_state.hpp"
#include "local_transport.hpp"
#include "piv_applet.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/log.hpp"
#include "sdbox/common/piv.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

namespace {

using namespace sdbox;
using Clock = std::chrono::steady_clock;

struct Stats {
  double median_us = 0;
  double p90_us = 0;
  double per_second = 0;
};

Stats summarise(std::vector<double> samples_us) {
  std::sort(samples_us.begin(), samples_us.end());
  Stats stats;
  stats.median_us = samples_us[samples_us.size() / 2];
  stats.p90_us = samples_us[samples_us.size() * 9 / 10];
  double total = 0;
  for (double sample : samples_us) total += sample;
  stats.per_second = 1e6 * static_cast<double>(samples_us.size()) / total;
  return stats;
}

template <class Operation>
Result<Stats> measure(int iterations, Operation&& operation) {
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    if (auto done = operation(); !done) return done.error();
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return summarise(std::move(samples));
}

struct Figures {
  Stats select, certificate, sign;
};

/// The same operations whatever the transport: SELECT (one short APDU), reading the 9A
/// certificate (GET DATA with 61xx continuations), and signing a digest with 9A.
Result<Figures> run_suite(apdu::Transport& transport, int apdus, int signatures) {
  firmware::PivClient card(transport);
  if (auto selected = card.select(); !selected) return selected.error();
  Figures figures;
  auto select = measure(apdus, [&] { return card.select(); });
  if (!select) return select.error();
  figures.select = *select;
  auto certificate = measure(apdus / 4, [&]() -> Status {
    auto der = card.read_certificate(piv::key::kAuthentication);
    if (!der) return der.error();
    return {};
  });
  if (!certificate) return certificate.error();
  figures.certificate = *certificate;
  auto pin = card.verify_pin("123456");
  if (!pin || pin->outcome != firmware::PinCheck::Outcome::accepted) {
    return make_error(ErrorCategory::card, "PIN not accepted");
  }
  const Bytes digest = crypto::sha256(bytes_of("benchmark"));
  auto sign = measure(signatures, [&]() -> Status {
    auto signature = card.sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
    if (!signature) return signature.error();
    return {};
  });
  if (!sign) return sign.error();
  figures.sign = *sign;
  return figures;
}

int fail(const Error& error) {
  std::cerr << "bench-card: " << error.describe() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-card: APDU round trip and signatures per second through pcscd + vpcd + softcard"};
  int apdus = 2000;
  int signatures = 300;
  bool json = false;
  std::string softcard = (cardlab::executable_directory().parent_path() / "softcard" / "sdbox-softcard").string();
  app.add_option("--apdus", apdus, "SELECT round trips to time")->check(CLI::Range(20, 1000000));
  app.add_option("--signatures", signatures, "signatures to time")->check(CLI::Range(10, 100000));
  app.add_option("--softcard", softcard, "path of sdbox-softcard");
  app.add_flag("--json", json, "print one JSON line");
  CLI11_PARSE(app, argc, argv);
  log::init("bench-card", "warn");

  char pattern[] = "/tmp/sdbox-bench.XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return fail(make_error(ErrorCategory::io, "mkdtemp"));
  const std::filesystem::path directory(pattern);
  const auto state = directory / "card.json";
  const ctl::CaDirectory ca{directory / "ca"};
  if (auto made = ctl::create_ca(ca, "Bench CA", std::chrono::hours(24)); !made) return fail(made.error());
  auto issuer = ctl::issuer_from_ca(ca);
  if (!issuer) return fail(issuer.error());
  ctl::CardProfile profile;
  profile.holder_name = "Bench";
  profile.new_pin = "123456";
  profile.new_puk = "12345678";
  from_hex(piv::kDefaultManagementKeyHex, profile.management_key);

  int status = 0;
  {
    // Baseline: the card's own logic in this process, no pcscd, no vpcd, no TCP.
    const softcard::StateFile baseline_file(directory / "baseline.json");
    auto baseline_state = baseline_file.load_or_create();
    if (!baseline_state) return fail(baseline_state.error());
    softcard::PivApplet applet(std::move(*baseline_state),
                               [&](const softcard::CardState& next) { return baseline_file.save(next); });
    softcard::LocalTransport direct(applet);
    {
      firmware::PivClient client(direct);
      if (auto done = ctl::personalise_card(client, *issuer, profile); !done) return fail(done.error());
    }
    applet.reset();
    auto baseline = run_suite(direct, apdus, signatures);
    if (!baseline) return fail(baseline.error());

    // Through the real stack.
    auto pcscd = cardlab::PrivatePcscd::start({directory});
    if (!pcscd) return fail(pcscd.error());
    ::setenv("PCSCLITE_CSOCK_NAME", (*pcscd)->socket_path().c_str(), 1);
    auto card = cardlab::insert_softcard({softcard, state, (*pcscd)->vpcd_port(), directory / "softcard.log", "warn"});
    if (!card) return fail(card.error());
    boost::asio::io_context unused;
    auto reader = firmware::PcscCardReader::create({unused.get_executor(), cardlab::kReaderName});
    if (auto inserted = reader->wait_for_card(true, std::chrono::seconds(10)); !inserted) return fail(inserted.error());
    {
      auto channel = reader->connect();
      if (!channel) return fail(channel.error());
      firmware::PivClient client(**channel);
      if (auto done = ctl::personalise_card(client, *issuer, profile); !done) return fail(done.error());
    }
    auto channel = reader->connect();
    if (!channel) return fail(channel.error());
    auto stack = run_suite(**channel, apdus, signatures);
    if (!stack) return fail(stack.error());

    const double overhead_us = stack->select.median_us - baseline->select.median_us;
    if (json) {
      std::cout << nlohmann::json{
                       {"apdu_round_trip_us_median", stack->select.median_us},
                       {"apdu_round_trip_us_p90", stack->select.p90_us},
                       {"certificate_read_us_median", stack->certificate.median_us},
                       {"signatures_per_second", stack->sign.per_second},
                       {"sign_us_median", stack->sign.median_us},
                       {"baseline_in_process",
                        {{"apdu_us_median", baseline->select.median_us},
                         {"certificate_read_us_median", baseline->certificate.median_us},
                         {"signatures_per_second", baseline->sign.per_second}}},
                       {"stack_overhead_us_per_apdu", overhead_us},
                   }.dump()
                << "\n";
    } else {
      fmt::print("through pcscd + vpcd + softcard ({} SELECTs, {} certificate reads, {} signatures)\n", apdus,
                 apdus / 4, signatures);
      fmt::print("  APDU round trip (SELECT)   median {:8.1f} us   p90 {:8.1f} us\n", stack->select.median_us,
                 stack->select.p90_us);
      fmt::print("  certificate read (GET DATA + 61xx)  median {:8.1f} us\n", stack->certificate.median_us);
      fmt::print("  ECDSA P-256 signature      median {:8.1f} us   {:8.1f} signatures/s\n", stack->sign.median_us,
                 stack->sign.per_second);
      fmt::print("baseline: same card logic in-process, same run\n");
      fmt::print("  APDU (SELECT)              median {:8.1f} us\n", baseline->select.median_us);
      fmt::print("  certificate read           median {:8.1f} us\n", baseline->certificate.median_us);
      fmt::print("  ECDSA P-256 signature      median {:8.1f} us   {:8.1f} signatures/s\n", baseline->sign.median_us,
                 baseline->sign.per_second);
      fmt::print("stack overhead per APDU: {:.1f} us ({:.1f}x the in-process APDU)\n", overhead_us,
                 stack->select.median_us / baseline->select.median_us);
    }
    card->stop();
    (*pcscd)->stop();
  }
  std::error_code ignored;
  std::filesystem::remove_all(directory, ignored);
  return status;
}
