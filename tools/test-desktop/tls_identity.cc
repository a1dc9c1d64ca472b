#include "tls_identity.hpp"

#include "sdbox/common/crypto.hpp"

#include <openssl/x509.h>

namespace sdbox::desktop {

namespace {

Result<TlsIdentity> to_pem(const X509& certificate, const EVP_PKEY& key) {
  TlsIdentity identity{crypto::certificate_to_pem(certificate), crypto::private_key_to_pem(key)};
  if (identity.certificate_pem.empty() || identity.private_key_pem.empty()) {
    return make_error(ErrorCategory::crypto, "cannot encode the TLS identity as PEM: " + crypto::last_openssl_error());
  }
  return identity;
}

}  // namespace

Result<TlsIdentity> TlsIdentity::generate() {
  auto key = crypto::generate_ec_p256();
  if (!key) return key.error();
  crypto::CertificateRequest request;
  request.common_name = "sdbox-test-desktop";
  request.validity = std::chrono::hours(24 * 30);
  request.server_auth = true;
  request.alt_names = {"IP:127.0.0.1", "DNS:localhost"};
  auto certificate = crypto::issue_certificate(request, **key, **key, nullptr);
  if (!certificate) return certificate.error();
  return to_pem(**certificate, **key);
}

Result<TlsIdentity> TlsIdentity::load(const std::filesystem::path& certificate_path, const std::filesystem::path& key_path) {
  auto certificate = crypto::certificate_from_pem_file(certificate_path);
  if (!certificate) {
    return make_error(ErrorCategory::config, "--cert " + certificate_path.string() + ": " + certificate.error().message);
  }
  auto key = crypto::private_key_from_pem_file(key_path);
  if (!key) return make_error(ErrorCategory::config, "--key " + key_path.string() + ": " + key.error().message);
  if (X509_check_private_key(certificate->get(), key->get()) != 1) {
    return make_error(ErrorCategory::config, "--key " + key_path.string() + " does not match --cert " + certificate_path.string());
  }
  return to_pem(**certificate, **key);
}

}  // namespace sdbox::desktop
