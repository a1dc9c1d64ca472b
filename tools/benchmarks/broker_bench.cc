// sdbox-bench-broker: the broker's figures against this machine's own limit, in one run.
//  - tunnel setups per second: `openssl s_time` (full TLS 1.3 handshakes with the box
//    certificate) against sdbox-broker, and against `openssl s_server` with the same
//    certificate, key, client-certificate check, CRL, curve and cipher suites: the ratio.
//  - broker memory (VmRSS) with N idle tunnels (hello exchanged, then silent).
//  - login latency, excluding the person and the card: tunnel + hello + login_begin +
//    choose_project + login_proof until session_ready, the card played by a key in memory.
#include "pki/pki.hpp"
#include "store/sqlite_store.hpp"
#include "tunnel/tunnel_client.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/login_proof.hpp"
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
  const broker::Day today = std::chrono::floor<std::chrono::days>(clock.now());
  must(store->add_membership({0, "alice", "bench", today - std::chrono::days(1), today + std::chrono::days(1)}, "bench"),
       "membership");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdbox-bench-broker: tunnel setups vs openssl, memory with idle tunnels, login latency"};
  std::string broker_program;
  bool json = false;
  int setup_seconds = 8;
  int idle_tunnels = 10000;
  int logins = 200;
  app.add_option("--broker", broker_program, "the sdbox-broker program")->required();
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
                                      std::to_string(broker_port), "--idle-timeout", "3600", "--keepalive", "600",
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
          // One co_await per statement: g++ 12 miscompiles co_await inside a conditional expression.
          auto step = co_await tunnel->connect();
          if (step && step->type == FrameType::hello) {
            const Frame begin{FrameType::login_begin, {{"certificate", to_hex(provisioned.card_certificate)}}};
            step = co_await tunnel->request(begin);
          }
          if (step && step->type == FrameType::projects) {
            const Frame choose{FrameType::choose_project, {{"project", "bench"}}};
            step = co_await tunnel->request(choose);
          }
          Bytes nonce;
          if (!step || step->type != FrameType::challenge || !from_hex(step->body.value("challenge", ""), nonce)) {
            login_failure = step ? step->body.dump() : step.error().describe();
            co_return;
          }
          const auto digest = login::proof_digest(nonce, tunnel->exporter(), "box-bench", "bench");
          auto signature = must(crypto::ecdsa_sign_digest(*provisioned.card_key, digest), "signing");
          const Frame proof{FrameType::login_proof, {{"signature", to_hex(signature)}}};
          auto ready = co_await tunnel->request(proof);
          if (!ready || ready->type != FrameType::session_ready) {
            login_failure = ready ? ready->body.dump() : ready.error().describe();
            co_return;
          }
          latencies.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count());
          const Frame bye{FrameType::bye, nlohmann::json::object()};
          (void)co_await tunnel->send(bye);
          tunnel->close();
        }
      },
      asio::detached);
  io.run();
  io.restart();
  if (!login_failure.empty()) die("a login failed: " + login_failure);

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
                                {"login_p50_ms", p50},
                                {"login_p95_ms", p95},
                                {"logins", latencies.size()}}
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
    std::cout << fmt::format("login latency without person or card ({} logins): p50 {:.2f} ms, p95 {:.2f} ms "
                             "(target p95 <= 1000 ms)\n",
                             latencies.size(), p50, p95);
  }
  return 0;
}
