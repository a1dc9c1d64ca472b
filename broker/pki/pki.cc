#include "pki/pki.hpp"

#include <fmt/format.h>

namespace sdbox::broker {

namespace {

constexpr std::chrono::hours kCrlValidity{24 * 30};

struct Issuer {
  crypto::Certificate certificate;
  crypto::PKey key;
};

Result<Issuer> load_issuer(const Pki& pki, Pki::Authority authority) {
  auto certificate = crypto::certificate_from_pem_file(pki.ca_certificate(authority));
  if (!certificate) return certificate.error();
  auto key = crypto::private_key_from_pem_file(pki.ca_key(authority));
  if (!key) return key.error();
  return Issuer{std::move(*certificate), std::move(*key)};
}

Status make_directory(const std::filesystem::path& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) return make_error(ErrorCategory::io, fmt::format("cannot create {}: {}", directory.string(), error.message()));
  std::filesystem::permissions(directory, std::filesystem::perms::owner_all, error);
  return {};
}

}  // namespace

std::filesystem::path Pki::ca_directory(Authority authority) const {
  switch (authority) {
    case Authority::boxes: return directory_ / "boxes-ca";
    case Authority::users: return directory_ / "users-ca";
    case Authority::staff: return directory_ / "staff-ca";
  }
  return directory_ / "boxes-ca";
}

std::filesystem::path Pki::crl(Authority authority) const {
  switch (authority) {
    case Authority::boxes: return directory_ / "boxes.crl";
    case Authority::users: return directory_ / "users.crl";
    case Authority::staff: return directory_ / "staff.crl";
  }
  return directory_ / "boxes.crl";
}

Status Pki::init(const InitOptions& options) const {
  if (std::filesystem::exists(ca_certificate(Authority::boxes)) || std::filesystem::exists(server_certificate())) {
    return make_error(ErrorCategory::usage,
                      fmt::format("{} already holds a PKI; it is never replaced", directory_.string()));
  }
  if (options.server_names.empty()) return make_error(ErrorCategory::usage, "the server certificate needs a name");
  for (const auto& name : options.server_names) {
    if (name.rfind("DNS:", 0) != 0 && name.rfind("IP:", 0) != 0) {
      return make_error(ErrorCategory::usage, fmt::format("server name '{}' must start with DNS: or IP:", name));
    }
  }
  if (auto made = make_directory(directory_); !made) return made;
  const std::pair<Authority, const char*> authorities[] = {
      {Authority::boxes, "SD-Box boxes CA"}, {Authority::users, "SD-Box users CA"}, {Authority::staff, "SD-Box staff CA"}};
  for (const auto& [authority, name] : authorities) {
    if (auto made = make_directory(ca_directory(authority)); !made) return made;
    auto key = crypto::generate_ec_p256();
    if (!key) return key.error();
    crypto::CertificateRequest request;
    request.common_name = name;
    request.organization = options.organization;
    request.is_ca = true;
    request.validity = options.ca_validity;
    auto certificate = crypto::issue_certificate(request, **key, **key, nullptr);
    if (!certificate) return certificate.error();
    if (auto written = crypto::write_private_key_pem(**key, ca_key(authority)); !written) return written;
    if (auto written = crypto::write_certificate_pem(**certificate, ca_certificate(authority)); !written) {
      return written;
    }
    if (auto written = write_crl(authority, {}); !written) return written;
  }
  auto issuer = load_issuer(*this, Authority::boxes);
  if (!issuer) return issuer.error();
  auto key = crypto::generate_ec_p256();
  if (!key) return key.error();
  crypto::CertificateRequest request;
  request.common_name = "SD-Box broker";
  request.organization = options.organization;
  request.server_auth = true;
  request.alt_names = options.server_names;
  request.validity = options.server_validity;
  auto certificate = crypto::issue_certificate(request, **key, *issuer->key, issuer->certificate.get());
  if (!certificate) return certificate.error();
  if (auto written = crypto::write_private_key_pem(**key, server_key()); !written) return written;
  return crypto::write_certificate_pem(**certificate, server_certificate());
}

Result<Pki::IssuedClient> Pki::issue_client(Authority authority, const std::string& common_name,
                                            std::chrono::hours validity) const {
  if (common_name.empty()) return make_error(ErrorCategory::usage, "a certificate needs a name");
  auto key = crypto::generate_ec_p256();
  if (!key) return key.error();
  crypto::CertificateRequest request;
  request.common_name = common_name;
  request.client_auth = true;
  request.validity = validity;
  auto certificate = issue_for_key(authority, request, **key);
  if (!certificate) return certificate.error();
  auto broker_ca = crypto::certificate_from_pem_file(ca_certificate(Authority::boxes));
  if (!broker_ca) return broker_ca.error();
  auto fingerprint = crypto::certificate_fingerprint(**certificate);
  if (!fingerprint) return fingerprint.error();
  IssuedClient issued;
  issued.serial_hex = crypto::certificate_serial_hex(**certificate);
  issued.sha256_hex = *fingerprint;
  issued.key = std::move(*key);
  issued.certificate = std::move(*certificate);
  issued.broker_ca = std::move(*broker_ca);
  return issued;
}

Result<crypto::Certificate> Pki::issue_for_key(Authority authority, const crypto::CertificateRequest& request,
                                               const EVP_PKEY& subject_key) const {
  auto issuer = load_issuer(*this, authority);
  if (!issuer) return issuer.error();
  return crypto::issue_certificate(request, subject_key, *issuer->key, issuer->certificate.get());
}

Result<Pki::Bundle> Pki::issue_client_bundle(Authority authority, const std::string& common_name,
                                             const std::filesystem::path& out, std::chrono::hours validity) const {
  std::error_code error;
  if (std::filesystem::exists(out) && !std::filesystem::is_empty(out, error)) {
    return make_error(ErrorCategory::usage, fmt::format("{} is not empty; not overwriting it", out.string()));
  }
  auto issued = issue_client(authority, common_name, validity);
  if (!issued) return issued.error();
  if (auto made = make_directory(out); !made) return made.error();
  if (auto written = crypto::write_private_key_pem(*issued->key, out / "client.key"); !written) return written.error();
  if (auto written = crypto::write_certificate_pem(*issued->certificate, out / "client.crt"); !written) {
    return written.error();
  }
  if (auto written = crypto::write_certificate_pem(*issued->broker_ca, out / "broker-ca.crt"); !written) {
    return written.error();
  }
  return Bundle{out, issued->serial_hex, issued->sha256_hex, crypto::certificate_not_after(*issued->certificate)};
}

Status Pki::write_crl(Authority authority, const std::vector<std::string>& revoked_serials_hex) const {
  auto issuer = load_issuer(*this, authority);
  if (!issuer) return issuer.error();
  auto crl = crypto::make_crl(*issuer->certificate, *issuer->key, revoked_serials_hex, kCrlValidity);
  if (!crl) return crl.error();
  return crypto::write_crl_pem(**crl, this->crl(authority));
}

}  // namespace sdbox::broker
