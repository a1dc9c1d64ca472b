#include "broker_client.hpp"

#include "sdbox/common/crypto.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

namespace sdbox::ctl {

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;
using ErrorCode = boost::system::error_code;

constexpr std::string_view kScheme = "https://";
/// A bundle file is a few KiB; anything far larger is not one, and is not read into memory.
constexpr std::uintmax_t kMaxBundleFileBytes = 1U << 20U;

Error usage_error(std::string message) { return make_error(ErrorCategory::usage, std::move(message)); }
Error config_error(std::string message) { return make_error(ErrorCategory::config, std::move(message)); }

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// "Connection refused" -> "connection refused", to sit inside a sentence.
std::string lower_first(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

struct Endpoint {
  std::string host;  ///< lower case, IPv6 without brackets
  std::string port;
  bool host_is_address = false;
  std::string authority;  ///< host:port as it goes into the Host header and the origin
};

bool is_dns_name(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-') return false;
  return std::all_of(host.begin(), host.end(), [](unsigned char c) { return std::isalnum(c) != 0 || c == '-' || c == '.'; });
}

Result<std::string> parse_port(std::string_view text, std::string_view url) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  const auto [last, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || text.size() > 5 || error != std::errc{} || last != end || value == 0 || value > 65535) {
    return usage_error(fmt::format("the broker URL '{}' has a bad port '{}' (1-65535)", url, text));
  }
  return std::to_string(value);
}

Result<Endpoint> parse_url(std::string_view url) {
  if (lower(url.substr(0, kScheme.size())) != kScheme) {
    if (url.find("://") != std::string_view::npos) {
      return usage_error(fmt::format("the broker URL '{}' must start with https:// (the API is HTTPS only)", url));
    }
    return usage_error(fmt::format("the broker URL '{}' is not https://host[:port]", url));
  }
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return usage_error(fmt::format("the broker URL '{}' must not have a path, query or fragment: https://host[:port]", url));
  }
  if (rest.find('@') != std::string_view::npos) {
    return usage_error(fmt::format("the broker URL '{}' must not hold a user name", url));
  }
  Endpoint endpoint;
  std::string_view host;
  std::string_view port;
  bool port_given = false;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return usage_error(fmt::format("the broker URL '{}' has no closing ']'", url));
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      return usage_error(fmt::format("the broker URL '{}' has text after the address", url));
    }
    if (!after.empty()) {
      port = after.substr(1);
      port_given = true;
    }
    ErrorCode error;
    const auto address = asio::ip::make_address_v6(std::string(host), error);
    if (error) return usage_error(fmt::format("the broker URL '{}' has a bad IPv6 address", url));
    endpoint.host = address.to_string();
    endpoint.host_is_address = true;
    endpoint.authority = "[" + endpoint.host + "]";
  } else {
    const auto colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      port_given = true;
      if (port.find(':') != std::string_view::npos) {
        return usage_error(fmt::format("the broker URL '{}': an IPv6 address goes in brackets, https://[::1]:8443", url));
      }
    }
    if (host.empty()) return usage_error(fmt::format("the broker URL '{}' has no host", url));
    ErrorCode error;
    const auto address = asio::ip::make_address_v4(std::string(host), error);
    if (!error) {
      endpoint.host = address.to_string();
      endpoint.host_is_address = true;
    } else if (is_dns_name(host)) {
      endpoint.host = lower(host);
    } else {
      return usage_error(fmt::format("the broker URL '{}' has a bad host name '{}'", url, host));
    }
    endpoint.authority = endpoint.host;
  }
  if (port_given) {
    auto checked = parse_port(port, url);
    if (!checked) return checked.error();
    endpoint.port = *checked;
  } else {
    endpoint.port = "443";
  }
  endpoint.authority += ":" + endpoint.port;
  return endpoint;
}


// ---- the staff bundle ----

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

Bio memory_bio(const std::string& text) { return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))); }

Result<std::string> read_bundle_file(const std::filesystem::path& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    return config_error(fmt::format("{} is missing (a staff bundle holds client.crt, client.key and broker-ca.crt)",
                                    path.string()));
  }
  if (!std::filesystem::is_regular_file(status)) return config_error(fmt::format("{} is not a file", path.string()));
  const auto size = std::filesystem::file_size(path, error);
  if (!error && size > kMaxBundleFileBytes) {
    return config_error(fmt::format("{} is {} bytes, too large for a PEM file", path.string(), size));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int cause = errno;
    return config_error(fmt::format("cannot read {}: {}", path.string(), std::generic_category().message(cause)));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return config_error(fmt::format("cannot read {}", path.string()));
  return text;
}

/// Every certificate in a PEM file, in order. A file with none, or with a damaged one, is refused
/// rather than used in part: a silently dropped CA would only show up as a refused handshake.
Result<std::vector<crypto::Certificate>> read_certificates(const std::filesystem::path& path) {
  auto text = read_bundle_file(path);
  if (!text) return text.error();
  const Bio bio = memory_bio(*text);
  if (!bio) return make_error(ErrorCategory::crypto, crypto::last_openssl_error());
  std::vector<crypto::Certificate> certificates;
  ERR_clear_error();
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(certificate);
  }
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (certificates.empty()) return config_error(fmt::format("{} is not a PEM certificate", path.string()));
  if (!clean_end) return config_error(fmt::format("{} holds a damaged PEM certificate", path.string()));
  return certificates;
}

/// Never prompts: an encrypted key cannot be used unattended, and sdboxctl must not hang on a tty.
int refuse_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user*/) { return 0; }

Result<crypto::PKey> read_private_key(const std::filesystem::path& path) {
  auto text = read_bundle_file(path);
  if (!text) return text.error();
  const Bio bio = memory_bio(*text);
  if (!bio) return make_error(ErrorCategory::crypto, crypto::last_openssl_error());
  crypto::PKey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  ERR_clear_error();
  if (!key) return config_error(fmt::format("{} is not an unencrypted PEM private key", path.string()));
  return key;
}

struct Settings {
  Endpoint endpoint;
  std::string origin;
  std::filesystem::path broker_ca;
  std::chrono::seconds timeout{};
  /// Only handed to new SSL objects, which OpenSSL allows from several threads.
  mutable ssl::context tls{ssl::context::tls_client};
};

Status configure_tls(ssl::context& tls, const std::vector<crypto::Certificate>& chain, const crypto::PKey& key,
                     const std::vector<crypto::Certificate>& authorities, const std::filesystem::path& certificate_file) {
  SSL_CTX* native = tls.native_handle();
  const auto refused = [&](std::string_view what) {
    return make_error(ErrorCategory::crypto, fmt::format("OpenSSL refused {} {}: {}", what, certificate_file.string(),
                                                         crypto::last_openssl_error()));
  };
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) return refused("TLS 1.2 as the minimum for");
  if (SSL_CTX_use_certificate(native, chain.front().get()) != 1) return refused("the certificate");
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(native, chain[i].get()) != 1) return refused("the chain of");
  }
  if (SSL_CTX_use_PrivateKey(native, key.get()) != 1) return refused("the key of");
  // Only broker-ca.crt: the system's CAs have no say over which broker staff talk to.
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  for (const auto& authority : authorities) {
    if (X509_STORE_add_cert(store, authority.get()) != 1) return refused("broker-ca.crt beside");
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  return {};
}

// ---- one exchange ----

bool is_certificate_alert(int alert) {
  switch (alert) {
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED: return true;
    default: return false;
  }
}

bool is_unknown_issuer(long verify_result) {
  switch (verify_result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE: return true;
    default: return false;
  }
}

/// One connection, one request, one answer, under one deadline. Runs its own io_context so the
/// synchronous interface needs no thread: the deadline closes the socket, every pending operation
/// then fails, and `io_.run()` returns. Each step's handler starts the next one.
class Exchange {
 public:
  Exchange(const Settings& settings, http::request<http::string_body> request)
      : settings_(settings), request_(std::move(request)), resolver_(io_), stream_(io_, settings.tls), deadline_(io_) {
    parser_.body_limit(BrokerClient::max_response_bytes);
  }

  Result<BrokerClient::Response> run() {
    deadline_.expires_after(settings_.timeout);
    deadline_.async_wait([this](const ErrorCode& error) {
      if (error) return;
      timed_out_ = true;
      resolver_.cancel();
      ErrorCode ignored;
      stream_.lowest_layer().close(ignored);
    });
    resolve();
    io_.run();
    if (!outcome_) return make_error(ErrorCategory::internal, "the exchange with the broker ended without a result");
    return std::move(*outcome_);
  }

 private:
  void finish(Result<BrokerClient::Response> outcome) {
    outcome_.emplace(std::move(outcome));
    deadline_.cancel();
    ErrorCode ignored;
    stream_.lowest_layer().close(ignored);
  }

  void resolve() {
    const Endpoint& endpoint = settings_.endpoint;
    const auto flags = endpoint.host_is_address ? tcp::resolver::numeric_host | tcp::resolver::numeric_service
                                                : tcp::resolver::numeric_service;
    resolver_.async_resolve(endpoint.host, endpoint.port, flags,
                            [this](const ErrorCode& error, const tcp::resolver::results_type& endpoints) {
                              if (timed_out_) return finish(timeout_error());
                              if (error) {
                                return finish(make_error(
                                    ErrorCategory::io,
                                    fmt::format("cannot reach the broker at {}: cannot resolve {}: {}", settings_.origin,
                                                settings_.endpoint.host, lower_first(error.message()))));
                              }
                              connect(endpoints);
                            });
  }

  void connect(const tcp::resolver::results_type& endpoints) {
    asio::async_connect(stream_.lowest_layer(), endpoints, [this](const ErrorCode& error, const tcp::endpoint& /*peer*/) {
      if (timed_out_) return finish(timeout_error());
      if (error) {
        return finish(make_error(
            ErrorCategory::io,
            fmt::format("cannot reach the broker at {}: {}", settings_.origin, lower_first(error.message())),
            error.value()));
      }
      handshake();
    });
  }

  void handshake() {
    SSL* native = stream_.native_handle();
    const std::string& host = settings_.endpoint.host;
    // SNI carries names only (RFC 6066); SSL_set1_host checks an IP literal against IP SANs.
    if (!settings_.endpoint.host_is_address && SSL_set_tlsext_host_name(native, host.c_str()) != 1) {
      return finish(make_error(ErrorCategory::crypto, fmt::format("cannot name {} in TLS: {}", host,
                                                                  crypto::last_openssl_error())));
    }
    SSL_set_hostflags(native, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(native, host.c_str()) != 1) {
      return finish(make_error(ErrorCategory::crypto, fmt::format("cannot check the broker's certificate for {}: {}",
                                                                  host, crypto::last_openssl_error())));
    }
    stream_.async_handshake(ssl::stream_base::client, [this](const ErrorCode& error) {
      if (error) return finish(failure(error));
      send();
    });
  }

  void send() {
    http::async_write(stream_, request_, [this](const ErrorCode& error, std::size_t /*bytes*/) {
      if (error) return finish(failure(error));
      receive();
    });
  }

  void receive() {
    http::async_read(stream_, buffer_, parser_, [this](const ErrorCode& error, std::size_t /*bytes*/) {
      if (error) return finish(failure(error));
      finish(answer(parser_.get()));
    });
  }

  Result<BrokerClient::Response> answer(const http::response<http::string_body>& response) const {
    BrokerClient::Response out;
    out.status = static_cast<int>(response.result_int());
    if (response.result() == http::status::no_content) return out;
    out.body = Json::parse(response.body(), nullptr, false);
    if (out.body.is_discarded()) {
      return make_error(ErrorCategory::io,
                        fmt::format("the broker at {} answered {} with a body that is not JSON", settings_.origin, out.status),
                        out.status);
    }
    return out;
  }

  [[nodiscard]] Error timeout_error() const {
    return make_error(ErrorCategory::io,
                      fmt::format("the broker at {} did not answer within {} s", settings_.origin, settings_.timeout.count()),
                      ETIMEDOUT);
  }

  /// Words a failed handshake, write or read for people: with TLS 1.3 a refused client
  /// certificate only shows up when the first answer is read.
  [[nodiscard]] Error failure(const ErrorCode& error) {
    if (timed_out_) return timeout_error();
    if (error == http::error::body_limit) {
      return make_error(ErrorCategory::io, fmt::format("the broker at {} sent an answer over {} MiB; refused",
                                                       settings_.origin, BrokerClient::max_response_bytes >> 20U));
    }
    if (error.category() == asio::error::get_ssl_category()) return tls_failure(error);
    if (error == ssl::error::stream_truncated || error == http::error::end_of_stream ||
        error == http::error::partial_message || error == asio::error::eof || error == asio::error::connection_reset ||
        error == asio::error::broken_pipe) {
      return make_error(ErrorCategory::io, fmt::format("the broker at {} closed the connection without answering",
                                                       settings_.origin));
    }
    if (error.category() == http::make_error_code(http::error::bad_version).category()) {
      return make_error(ErrorCategory::io,
                        fmt::format("the broker at {} did not answer in HTTP: {}", settings_.origin, error.message()));
    }
    return make_error(ErrorCategory::io, fmt::format("the connection to the broker at {} failed: {}", settings_.origin,
                                                     lower_first(error.message())),
                      error.value());
  }

  [[nodiscard]] Error tls_failure(const ErrorCode& error) {
    const auto code = static_cast<unsigned long>(error.value());
    const int reason = ERR_GET_REASON(code);
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      const long verified = SSL_get_verify_result(stream_.native_handle());
      if (verified == X509_V_ERR_HOSTNAME_MISMATCH || verified == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        return make_error(ErrorCategory::crypto,
                          fmt::format("the broker's certificate does not name {} (the host of {}); connect by a name "
                                      "it holds",
                                      settings_.endpoint.host, settings_.origin),
                          verified);
      }
      if (is_unknown_issuer(verified)) {
        return make_error(ErrorCategory::crypto,
                          fmt::format("the broker's certificate is not from {} ({}): is {} the broker?",
                                      settings_.broker_ca.string(), X509_verify_cert_error_string(verified),
                                      settings_.origin),
                          verified);
      }
      return make_error(ErrorCategory::crypto, fmt::format("the broker's certificate is not valid: {}",
                                                           X509_verify_cert_error_string(verified)),
                        verified);
    }
    if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
      const int alert = reason - SSL_AD_REASON_OFFSET;
      if (is_certificate_alert(alert)) {
        return make_error(ErrorCategory::crypto, fmt::format("the broker refused this staff certificate (TLS alert {})",
                                                             SSL_alert_desc_string_long(alert)),
                          alert);
      }
      return make_error(ErrorCategory::crypto, fmt::format("TLS with the broker at {} failed (TLS alert {})",
                                                           settings_.origin, SSL_alert_desc_string_long(alert)),
                        alert);
    }
    if (reason == SSL_R_WRONG_VERSION_NUMBER) {
      return make_error(ErrorCategory::crypto,
                        fmt::format("{} does not speak TLS 1.2 or later (is it the broker's API port?)", settings_.origin));
    }
    return make_error(ErrorCategory::crypto,
                      fmt::format("TLS with the broker at {} failed: {}", settings_.origin, error.message()));
  }

  const Settings& settings_;
  http::request<http::string_body> request_;
  asio::io_context io_;
  tcp::resolver resolver_;
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer deadline_;
  boost::beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  bool timed_out_ = false;
  std::optional<Result<BrokerClient::Response>> outcome_;
};

bool is_valid_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return false;
  return std::none_of(target.begin(), target.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f || c == '#'; });
}

std::string broker_message(const Json& body, int status) {
  std::string reason;
  std::string message;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const Json& error = body["error"];
    if (error.contains("reason") && error["reason"].is_string()) reason = error["reason"].get<std::string>();
    if (error.contains("message") && error["message"].is_string()) message = error["message"].get<std::string>();
  }
  if (!message.empty()) return message;
  if (!reason.empty()) return fmt::format("the broker answered {} {}", status, reason);
  return fmt::format("the broker answered {}", status);
}

bool has_reason(const Json& body, std::string_view reason) {
  return body.is_object() && body.contains("error") && body["error"].is_object() && body["error"].contains("reason") &&
         body["error"]["reason"] == reason;
}

}  // namespace

struct BrokerClient::Shared {
  Settings settings;
};

BrokerClient::BrokerClient(std::shared_ptr<const Shared> shared) : shared_(std::move(shared)) {}

Result<BrokerClient> BrokerClient::create(const Config& config) {
  auto endpoint = parse_url(config.url);
  if (!endpoint) return endpoint.error();
  if (config.timeout.count() <= 0) return usage_error("the broker timeout must be at least one second");
  const std::filesystem::path& folder = config.staff_directory;
  std::error_code error;
  if (!std::filesystem::is_directory(folder, error)) {
    return config_error(fmt::format("the staff bundle {} is not a folder (it holds client.crt, client.key and "
                                    "broker-ca.crt)",
                                    folder.string()));
  }
  const auto certificate_file = folder / "client.crt";
  const auto key_file = folder / "client.key";
  auto chain = read_certificates(certificate_file);
  if (!chain) return chain.error();
  auto key = read_private_key(key_file);
  if (!key) return key.error();
  auto authorities = read_certificates(folder / "broker-ca.crt");
  if (!authorities) return authorities.error();
  if (X509_check_private_key(chain->front().get(), key->get()) != 1) {
    ERR_clear_error();
    return config_error(fmt::format("{} does not belong to {}", key_file.string(), certificate_file.string()));
  }
  if (X509_check_purpose(chain->front().get(), X509_PURPOSE_SSL_CLIENT, 0) != 1) {
    ERR_clear_error();
    return config_error(fmt::format("{} is not a TLS client certificate", certificate_file.string()));
  }

  auto shared = std::make_shared<Shared>();
  Settings& settings = shared->settings;
  settings.endpoint = std::move(*endpoint);
  settings.origin = std::string(kScheme) + settings.endpoint.authority;
  settings.broker_ca = folder / "broker-ca.crt";
  settings.timeout = config.timeout;
  if (auto configured = configure_tls(settings.tls, *chain, *key, *authorities, certificate_file); !configured) {
    return configured.error();
  }
  return BrokerClient(std::move(shared));
}

const std::string& BrokerClient::origin() const { return shared_->settings.origin; }

Result<BrokerClient::Response> BrokerClient::request(std::string_view method, std::string_view target,
                                                     const std::optional<Json>& body) const {
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return usage_error(fmt::format("'{}' is not an HTTP method", method));
  if (!is_valid_target(target)) return usage_error(fmt::format("'{}' is not an API path", target));
  http::request<http::string_body> message{verb, std::string(target), 11};
  message.set(http::field::host, shared_->settings.endpoint.authority);
  message.set(http::field::user_agent, "sdboxctl");
  message.set(http::field::accept, "application/json");
  message.set(http::field::connection, "close");
  if (body) {
    try {
      message.body() = body->dump();
    } catch (const Json::type_error& error) {
      // Text typed by people (a full name from a Latin-1 terminal) may not be UTF-8.
      return usage_error(fmt::format("the request cannot be sent as JSON: {}", error.what()));
    }
    message.set(http::field::content_type, "application/json");
  }
  message.prepare_payload();
  Exchange exchange(shared_->settings, std::move(message));
  return exchange.run();
}

Result<Json> BrokerClient::call(std::string_view method, std::string_view target, const std::optional<Json>& body) const {
  return expect_success(request(method, target, body));
}

Result<Json> expect_success(Result<BrokerClient::Response> answer) {
  if (!answer) return answer.error();
  BrokerClient::Response& response = *answer;
  const int status = response.status;
  if (status >= 200 && status < 300) return std::move(response.body);
  const auto refused = [&](std::int64_t failure) {
    return make_error(ErrorCategory::broker, broker_message(response.body, status), failure);
  };
  switch (status) {
    case 401:
    case 403: return refused(api_failure::invalid);
    case 404: return refused(api_failure::not_found);
    case 409: return refused(api_failure::conflict);
    default: break;
  }
  if (status >= 400 && status < 500) {
    return make_error(ErrorCategory::usage, broker_message(response.body, status), status);
  }
  if (status == 500 && has_reason(response.body, "storage")) return refused(api_failure::storage);
  return make_error(ErrorCategory::io, broker_message(response.body, status), status);
}

}  // namespace sdbox::ctl
