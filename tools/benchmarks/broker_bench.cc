// sdbox-bench-broker: the broker's figures against this machine's own limit, in one run.
//  - tunnel setups per second: `openssl s_time` (full TLS 1.3 handshakes with the box
//    certificate) against sdbox-broker, and against `openssl s_server` with the same
//    certificate, key, client-certificate check, CRL, curve and cipher suites: the ratio.
//  - broker memory (VmRSS) with N idle tunnels (hello exchanged, then silent).
//  - login latency excluding the person: tunnel + hello + login_begin + choose_project +
//    login_proof until session_ready, with the card played by a key in memory, and (with
//    --softcard) with the real card path too: a softcard behind a private pcscd, connect, select,
//    certificate, PIN, minutiae extraction of a finger image, on-card comparison, signature.
#include "card/pcsc_card_reader.hpp"
#include "card/piv_client.hpp"
#include "card_lab.hpp"
#include "card_personalisation.hpp"
#include "finger/minutiae_extractor.hpp"
#include "finger_enrolment.hpp"
#include "pki/pki.hpp"
#include "synthetic_finger.hpp"
#include "store/sqlite_store.hpp"
#include "tunnel/tunnel_client.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/login_proof.hpp"
#include "sdbox/common/piv.hpp"
#include "sdbox/common/process.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

namespace {

using namespace sdbox;
namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;
using wire::Frame;
using wire::FrameType;

[[noreturn]] void die(const std::string& message) {
  std::cerr << "bench-broker: " << message << "\n";
  std::exit(1);
}

template <class T>
T must(Result<T> result, const char* what) {
  if (!result) die(std::string(what) + ": " + result.error().describe());
  return std::move(*result);
}

std::uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

void wait_listening(std::uint16_t port) {
  asio::io_context io;
  for (int attempt = 0; attempt < 200; ++attempt) {
    asio::ip::tcp::socket socket(io);
    boost::system::error_code error;
    socket.connect({asio::ip::make_address("127.0.0.1"), port}, error);
    if (!error) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  die(fmt::format("nothing listens on port {}", port));
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t rss_kib(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(std::lround(p * static_cast<double>(values.size() - 1)));
  return values[std::min(index, values.size() - 1)];
}

/// Full handshakes per second that `openssl s_time` achieves against port `port`.
double setups_per_second(const std::filesystem::path& work, const std::filesystem::path& bundle, std::uint16_t port,
                         int seconds, const std::string& name) {
  const auto output = work / (name + ".s_time.txt");
  auto client = must(Process::spawn({{"openssl", "s_time", "-connect", fmt::format("127.0.0.1:{}", port), "-new",
                                      "-time", std::to_string(seconds), "-cert", (bundle / "client.crt").string(),
                                      "-key", (bundle / "client.key").string(), "-CAfile",
                                      (bundle / "broker-ca.crt").string()},
                                     {},
                                     output,
                                     std::nullopt}),
                     "starting openssl s_time");
  client.wait();
  const std::string text = read_all(output);
  std::smatch match;
  if (!std::regex_search(text, match, std::regex(R"((\d+) connections in (\d+) real seconds)"))) {
    die("unexpected s_time output:\n" + text);
  }
  const double connections = std::stod(match[1]);
  const double real = std::max(1.0, std::stod(match[2]));
  return connections / real;
}

struct Provisioned {
  std::filesystem::path state;
  std::filesystem::path bundle;
  crypto::PKey card_key;
  Bytes card_certificate;
};

/// The real card for the login figures: a private pcscd, the softcard personalised from the
/// users CA with a synthetic finger enrolled, registered to "bob"; and the image the finger
/// will show at each login (the sensor's capture is the person's time, not measured).
struct RealCard {
  std::unique_ptr<cardlab::PrivatePcscd> pcscd;
  std::optional<Process> softcard;
  std::unique_ptr<firmware::PcscCardReader> reader;
  GrayImage finger;
};

RealCard insert_real_card(const std::filesystem::path& work, const std::filesystem::path& softcard_program,
                          const broker::Pki& pki, broker::Store& store, asio::io_context& io) {
  RealCard card;
  card.pcscd = must(cardlab::PrivatePcscd::start({work / "pcscd"}), "starting pcscd");
  ::setenv("PCSCLITE_CSOCK_NAME", card.pcscd->socket_path().c_str(), 1);
  card.softcard = must(cardlab::insert_softcard({softcard_program, work / "card.json", card.pcscd->vpcd_port(),
                                                 work / "softcard.log", "warn"}),
                       "inserting the softcard");
  card.reader = firmware::PcscCardReader::create({io.get_executor(), cardlab::kReaderName});
  if (auto inserted = card.reader->wait_for_card(true, std::chrono::seconds(10)); !inserted) {
    die(inserted.error().describe());
  }
  auto channel = must(card.reader->connect(), "connecting to the card");
  firmware::PivClient client(*channel);
  ctl::CardProfile profile;
  profile.holder_name = "Bob Bench";
  profile.new_pin = "123456";
  profile.new_puk = "12345678";
  from_hex(piv::kDefaultManagementKeyHex, profile.management_key);
  const auto issuer = must(ctl::issuer_from_ca({pki.ca_directory(broker::Pki::Authority::users)}), "loading the users CA");
  auto personalised = must(ctl::personalise_card(client, issuer, profile),
                           "personalising the card");
  const auto master = fingersynth::make_master(fingersynth::derive_seed(23, 1));
  ctl::EnrolmentOptions options;
  from_hex(piv::kDefaultManagementKeyHex, options.management_key);
  std::uint64_t impression = 1;
  must(ctl::enrol_finger(
           client,
           [&]() -> Result<GrayImage> {
             return fingersynth::make_impression(master, fingersynth::derive_seed(23, 1, impression++)).image;
           },
           options),
       "enrolling the finger");
  card.finger = fingersynth::make_impression(master, fingersynth::derive_seed(23, 1, 9)).image;
  auto certificate = must(crypto::certificate_from_der(personalised.certificate_der), "card certificate");
  sdbox::SystemClock clock;
  must(store.add_user({0, "bob", "Bob Bench", broker::UserState::active, {}}, "bench"), "user");
  must(store.add_card({0, "bob", crypto::certificate_serial_hex(*certificate),
                       must(crypto::certificate_fingerprint(*certificate), "fingerprint"), broker::CardState::active, "",
                       clock.now()},
                      "bench"),
       "card");
  const broker::Day today = std::chrono::floor<std::chrono::days>(clock.now());
  must(store.add_membership({0, "bob", "bench", today - std::chrono::days(1), today + std::chrono::days(1)}, "bench"),
       "membership");
  return card;
}

Provisioned provision(const std::filesystem::path& work) {
  Provisioned out;
  out.state = work / "state";
  sdbox::SystemClock clock;
  broker::Pki pki(out.state / "pki");
  if (auto made = pki.init({}); !made) die(made.error().describe());
  auto store = must(broker::SqliteStore::create({out.state / "broker.db", &clock}), "store");
  must(store->add_site("bench", "bench"), "site");
  out.bundle = work / "box";
  auto bundle = must(pki.issue_client_bundle(broker::Pki::Authority::boxes, "box-bench", out.bundle,
                                             std::chrono::hours(24)),
                     "box bundle");
  must(store->add_box({0, "box-bench", "bench", bundle.serial_hex, bundle.sha256_hex, broker::BoxState::active, "", {}},
                      "bench"),
       "box");
  must(store->add_user({0, "alice", "Alice Bench", broker::UserState::active, {}}, "bench"), "user");
  auto ca = must(crypto::certificate_from_pem_file(pki.ca_certificate(broker::Pki::Authority::users)), "users CA");
  auto ca_key = must(crypto::private_key_from_pem_file(pki.ca_key(broker::Pki::Authority::users)), "users CA key");
  out.card_key = must(crypto::generate_ec_p256(), "card key");
  crypto::CertificateRequest request;
  request.common_name = "Alice Bench";
  request.client_auth = true;
  auto certificate = must(crypto::issue_certificate(request, *out.card_key, *ca_key, ca.get()), "card certificate");
  out.card_certificate = must(crypto::certificate_to_der(*certificate), "card DER");
  must(store->add_card({0, "alice", crypto::certificate_serial_hex(*certificate),
                        must(crypto::certificate_fingerprint(*certificate), "fingerprint"), broker::CardState::active,
                        "", clock.now()},
                       "bench"),
       "card");
  must(store->add_project({0, "bench", "Benchmark project"}, "bench"), "project");
  must(store->set_desktop({"bench", "127.0.0.1", 3389}, "bench"), "desktop");
  must(store->set_desktop_account({"bench", "alice", "alice", "bench desktop password"}, "bench"), "desktop account");
  const broker::Day today = std::chrono::floor<std::chrono::days>(clock.now());
  must(store->add_membership({0, "alice", "bench", today - std::chrono::days(1), today + std::chrono::days(1)}, "bench"),
       "membership");
  return out;
}

/// One login as a box makes it on a fresh tunnel: hello, login_begin, choose_project, then
/// `sign` (the card's part) over the proof digest, login_proof, session_ready, bye.
asio::awaitable<Status> login_once(firmware::TunnelClient& tunnel, const Bytes& certificate,
                                   const std::function<Result<Bytes>(const Bytes& digest)>& sign) {
  auto failure = [](const Result<Frame>& step) {
    return make_error(ErrorCategory::broker, step ? step->body.dump() : step.error().describe());
  };
  // One co_await per statement: g++ 12 miscompiles co_await inside a conditional expression.
  auto step = co_await tunnel.connect();
  if (step && step->type == FrameType::hello) {
    const Frame begin{FrameType::login_begin, {{"certificate", to_hex(certificate)}}};
    step = co_await tunnel.request(begin);
  }
  if (step && step->type == FrameType::projects) {
    const Frame choose{FrameType::choose_project, {{"project", "bench"}}};
    step = co_await tunnel.request(choose);
  }
  Bytes nonce;
  if (!step || step->type != FrameType::challenge || !from_hex(step->body.value("challenge", ""), nonce)) {
    co_return failure(step);
  }
  auto signature = sign(login::proof_digest(nonce, tunnel.exporter(), "box-bench", "bench"));
  if (!signature) co_return signature.error();
  const Frame proof{FrameType::login_proof, {{"signature", to_hex(*signature)}}};
  auto ready = co_await tunnel.request(proof);
  if (!ready || ready->type != FrameType::session_ready) co_return failure(ready);
  const Frame bye{FrameType::bye, nlohmann::json::object()};
  (void)co_await tunnel.send(bye);
  tunnel.close();
  co_return Status{};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdbox-bench-broker: tunnel setups vs openssl, memory with idle tunnels, login latency"};
  std::string broker_program;
  bool json = false;
  int setup_seconds = 8;
  int idle_tunnels = 10000;
  int logins = 200;
  int card_logins = 50;
  std::string softcard_program;
  app.add_option("--broker", broker_program, "the sdbox-broker program")->required();
  app.add_option("--softcard", softcard_program, "the sdbox-softcard program: also time logins with the real card path");
  app.add_option("--card-logins", card_logins, "logins to time with the card")->check(CLI::Range(1, 10000));
  app.add_flag("--json", json, "one line of JSON");
  app.add_option("--setup-seconds", setup_seconds, "length of each s_time run")->check(CLI::Range(1, 120));
  app.add_option("--idle", idle_tunnels, "idle tunnels to hold open")->check(CLI::Range(0, 100000));
  app.add_option("--logins", logins, "logins to time")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  // 10,000 tunnels need 10,000 descriptors here and in the broker (which inherits the limit).
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max = std::max<rlim_t>(files.rlim_max, static_cast<rlim_t>(idle_tunnels) * 2 + 1024);
  if (setrlimit(RLIMIT_NOFILE, &files) != 0) {
    getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  std::string pattern = "/tmp/sdbox-bench-broker.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp failed");
  const std::filesystem::path work = pattern;
  auto provisioned = provision(work);
  broker::Pki pki(provisioned.state / "pki");

  const auto broker_port = free_port();
  auto broker = must(Process::spawn({{broker_program, "--state", provisioned.state.string(), "--port",
                                      std::to_string(broker_port), "--api-port", std::to_string(free_port()),
                                      "--idle-timeout", "3600", "--keepalive", "600",
                                      "--log-level", "error"},
                                     {},
                                     work / "broker.log",
                                     std::nullopt}),
                     "starting sdbox-broker");
  wait_listening(broker_port);

  const auto openssl_port = free_port();
  auto openssl_server = must(
      Process::spawn({{"openssl", "s_server", "-accept", std::to_string(openssl_port), "-cert",
                       pki.server_certificate().string(), "-key", pki.server_key().string(), "-CAfile",
                       pki.ca_certificate(broker::Pki::Authority::boxes).string(), "-Verify", "1", "-crl_check",
                       "-CRL", pki.crl(broker::Pki::Authority::boxes).string(), "-tls1_3", "-groups", "P-256",
                       "-ciphersuites", "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384", "-num_tickets", "0",
                       "-no_cache", "-quiet"},
                      {},
                      work / "s_server.log",
                      std::nullopt}),
      "starting openssl s_server");
  wait_listening(openssl_port);

  const double openssl_rate = setups_per_second(work, provisioned.bundle, openssl_port, setup_seconds, "openssl");
  const double broker_rate = setups_per_second(work, provisioned.bundle, broker_port, setup_seconds, "broker");
  openssl_server.stop();

  // Login latency, one login after another, each on a fresh tunnel.
  asio::io_context io;
  firmware::TunnelClient::Config client_config{io.get_executor(),
                                               {"127.0.0.1", broker_port, "localhost"},
                                               firmware::BoxIdentity::from_bundle(provisioned.bundle),
                                               std::chrono::milliseconds(30000)};
  std::vector<double> latencies;
  std::string login_failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < logins && login_failure.empty(); ++i) {
          auto tunnel = must(firmware::TunnelClient::create(client_config), "tunnel client");
          const auto start = SteadyClock::now();
          const std::function<Result<Bytes>(const Bytes&)> sign = [&](const Bytes& digest) {
            return crypto::ecdsa_sign_digest(*provisioned.card_key, digest);
          };
          auto done = co_await login_once(*tunnel, provisioned.card_certificate, sign);
          if (!done) {
            login_failure = done.error().message;
            co_return;
          }
          latencies.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count());
        }
      },
      asio::detached);
  io.run();
  io.restart();
  if (!login_failure.empty()) die("a login failed: " + login_failure);

  // The same logins with the card doing its part: what the box does between the person's
  // inputs (the PIN typed, the finger on the sensor), each login on a fresh card connection.
  std::vector<double> card_latencies;
  std::optional<RealCard> real_card;
  if (!softcard_program.empty()) {
    sdbox::SystemClock clock;
    auto store = must(broker::SqliteStore::create({provisioned.state / "broker.db", &clock, false}), "store");
    real_card = insert_real_card(work, softcard_program, pki, *store, io);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (int i = 0; i < card_logins && login_failure.empty(); ++i) {
            const auto start = SteadyClock::now();
            auto channel = real_card->reader->connect();
            if (!channel) {
              login_failure = channel.error().describe();
              co_return;
            }
            firmware::PivClient card(**channel);
            auto certificate = card.select() ? card.read_certificate(piv::key::kAuthentication)
                                             : Result<Bytes>(make_error(ErrorCategory::card, "select failed"));
            auto pin = certificate ? card.verify_pin("123456") : Result<firmware::PinCheck>(certificate.error());
            if (!pin || pin->outcome != firmware::PinCheck::Outcome::accepted) {
              login_failure = "the card refused the PIN";
              co_return;
            }
            auto tunnel = must(firmware::TunnelClient::create(client_config), "tunnel client");
            // The box's part between the finger touching the sensor and the signature.
            const std::function<Result<Bytes>(const Bytes&)> finger_and_sign = [&](const Bytes& digest) -> Result<Bytes> {
              auto extraction = firmware::extract_minutiae(real_card->finger);
              if (!extraction) return extraction.error();
              auto references = card.finger_references();
              if (!references || references->empty()) return make_error(ErrorCategory::card, "no finger enrolled");
              auto probe = finger::to_card_template(extraction->minutiae, references->front());
              if (!probe) return probe.error();
              auto match = card.verify_finger(references->front().key_reference, *probe);
              if (!match || match->outcome != firmware::PinCheck::Outcome::accepted) {
                return make_error(ErrorCategory::card, "the card did not recognise the finger");
              }
              return card.sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
            };
            auto done = co_await login_once(*tunnel, *certificate, finger_and_sign);
            if (!done) {
              login_failure = done.error().message;
              co_return;
            }
            card_latencies.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count());
          }
        },
        asio::detached);
    io.run();
    io.restart();
    if (!login_failure.empty()) die("a login with the card failed: " + login_failure);
  }

  // Idle tunnels: connect them (a few hundred at a time), then read the broker's memory.
  const std::size_t rss_before = rss_kib(broker.pid());
  auto clients = must(firmware::TunnelClient::create_many(client_config, static_cast<std::size_t>(idle_tunnels)),
                      "tunnel clients");
  std::size_t opened = 0, failed = 0, next = 0;
  std::string first_failure;
  const auto idle_start = SteadyClock::now();
  auto connect_some = [&]() -> asio::awaitable<void> {
    while (next < clients.size()) {
      auto& client = clients[next++];
      auto hello = co_await client->connect();
      if (hello && hello->type == FrameType::hello) {
        ++opened;
      } else {
        if (first_failure.empty()) first_failure = hello ? hello->body.dump() : hello.error().describe();
        ++failed;
      }
    }
  };
  for (int i = 0; i < 64; ++i) asio::co_spawn(io, connect_some(), asio::detached);
  io.run();
  io.restart();
  const double idle_seconds = std::chrono::duration<double>(SteadyClock::now() - idle_start).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::size_t rss_idle = rss_kib(broker.pid());
  for (auto& client : clients) client->close();
  broker.stop();
  std::filesystem::remove_all(work);

  const double ratio = openssl_rate > 0 ? broker_rate / openssl_rate : 0;
  const double p50 = percentile(latencies, 0.50);
  const double p95 = percentile(latencies, 0.95);
  const double card_p50 = percentile(card_latencies, 0.50);
  const double card_p95 = percentile(card_latencies, 0.95);
  const bool with_card = !card_latencies.empty();
  const double rss_mib = static_cast<double>(rss_idle) / 1024.0;
  const double per_tunnel_kib =
      opened > 0 ? static_cast<double>(rss_idle - std::min(rss_idle, rss_before)) / static_cast<double>(opened) : 0;
  if (json) {
    std::cout << nlohmann::json{{"setups_per_s", broker_rate},
                                {"openssl_setups_per_s", openssl_rate},
                                {"setup_ratio_vs_openssl", ratio},
                                {"idle_tunnels", opened},
                                {"idle_tunnel_failures", failed},
                                {"rss_mib_10k_idle", rss_mib},
                                {"rss_kib_per_idle_tunnel", per_tunnel_kib},
                                // With the card when it was measured: the login without the person.
                                {"login_p50_ms", with_card ? card_p50 : p50},
                                {"login_p95_ms", with_card ? card_p95 : p95},
                                {"login_with_card", with_card},
                                {"logins", with_card ? card_latencies.size() : latencies.size()},
                                {"login_protocol_p50_ms", p50},
                                {"login_protocol_p95_ms", p95}}
                     .dump()
              << "\n";
  } else {
    std::cout << fmt::format("tunnel setups (openssl s_time, full TLS 1.3 handshakes, P-256, client certificate):\n");
    std::cout << fmt::format("  openssl s_server  {:8.1f} /s   (this machine's limit, same run)\n", openssl_rate);
    std::cout << fmt::format("  sdbox-broker      {:8.1f} /s   ratio {:.3f} (target >= 0.7)\n", broker_rate, ratio);
    std::cout << fmt::format("idle tunnels: {} open ({} failed) in {:.1f} s; broker RSS {:.1f} MiB (was {:.1f} MiB with none; "
                             "{:.1f} KiB per tunnel; target <= 1024 MiB)\n",
                             opened, failed, idle_seconds, rss_mib, static_cast<double>(rss_before) / 1024.0,
                             per_tunnel_kib);
    if (!first_failure.empty()) std::cout << "  first failure: " << first_failure << "\n";
    std::cout << fmt::format("login latency, broker protocol only (card key in memory, {} logins): p50 {:.2f} ms, "
                             "p95 {:.2f} ms\n",
                             latencies.size(), p50, p95);
    if (with_card) {
      std::cout << fmt::format("login latency with the card through pcscd (connect, PIN, extraction, on-card comparison, "
                               "signature; {} logins): p50 {:.2f} ms, p95 {:.2f} ms (target p95 <= 1000 ms)\n",
                               card_latencies.size(), card_p50, card_p95);
    }
  }
  return 0;
}
