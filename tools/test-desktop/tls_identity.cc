#include "tls_identity.hpp"

#include "sdbox/common/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace sdbox::desktop {

namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

std::string drain(BIO* bio) {
  BUF_MEM* memory = nullptr;
  BIO_get_mem_ptr(bio, &memory);
  return memory != nullptr ? std::string(memory->data, memory->length) : std::string{};
}

Result<TlsIdentity> to_pem(const X509& certificate, const EVP_PKEY& key) {
  std::unique_ptr<BIO, BioFree> cert_bio(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, BioFree> key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), const_cast<X509*>(&certificate)) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), const_cast<EVP_PKEY*>(&key), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return make_error(ErrorCategory::crypto, "cannot encode the TLS identity as PEM: " + crypto::last_openssl_error());
  }
  return TlsIdentity{drain(cert_bio.get()), drain(key_bio.get())};
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
