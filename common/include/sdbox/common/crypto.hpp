#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

/// Thin, value-returning wrappers over the OpenSSL 3 calls the project needs.
namespace sdbox::crypto {

struct PKeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using PKey = std::unique_ptr<EVP_PKEY, PKeyDeleter>;
using Certificate = std::unique_ptr<X509, X509Deleter>;

Bytes random_bytes(std::size_t count);
Bytes sha256(ByteView data);

/// PBKDF2-HMAC-SHA256, for storing PINs and PUKs as salted hashes.
Bytes pbkdf2_sha256(ByteView secret, ByteView salt, unsigned iterations, std::size_t length = 32);

Result<PKey> generate_ec_p256();
/// Uncompressed SEC1 point (04 || X || Y) of an EC key.
Result<Bytes> ec_public_point(const EVP_PKEY& key);
/// A P-256 public key from an uncompressed point.
Result<PKey> ec_public_key_from_point(ByteView point);

/// PKCS#8 DER of a private key, and back (for the card emulator's own storage only).
Result<Bytes> private_key_to_der(const EVP_PKEY& key);
Result<PKey> private_key_from_der(ByteView der);
Result<PKey> private_key_from_pem_file(const std::filesystem::path& path);
Status write_private_key_pem(const EVP_PKEY& key, const std::filesystem::path& path);

/// ECDSA over an already computed digest; DER-encoded signature (what PIV cards return).
Result<Bytes> ecdsa_sign_digest(const EVP_PKEY& key, ByteView digest);
/// True when `signature` (DER) is valid for `digest`.
Result<bool> ecdsa_verify_digest(const EVP_PKEY& public_key, ByteView digest, ByteView signature);

Result<Certificate> certificate_from_der(ByteView der);
Result<Bytes> certificate_to_der(const X509& certificate);
Result<Certificate> certificate_from_pem_file(const std::filesystem::path& path);
Result<Certificate> certificate_from_pem(std::string_view pem);
/// PEM text of a certificate or a private key (unencrypted), for libraries that take PEM in memory.
std::string certificate_to_pem(const X509& certificate);
std::string private_key_to_pem(const EVP_PKEY& key);
Status write_certificate_pem(const X509& certificate, const std::filesystem::path& path);
Result<PKey> certificate_public_key(const X509& certificate);
std::string certificate_subject(const X509& certificate);

/// What to put in a certificate issued by `issue_certificate`.
struct CertificateRequest {
  std::string common_name;
  std::string organization = "SD-Box";
  std::chrono::hours validity = std::chrono::hours(24 * 365);
  bool is_ca = false;
  bool client_auth = false;
  bool server_auth = false;
  /// subjectAltName entries, e.g. "DNS:broker.example" or "IP:127.0.0.1" (server certificates).
  std::vector<std::string> alt_names;
};

/// Issues a certificate for `subject_key` (public part used) signed by `issuer_key`; when
/// `issuer` is null the certificate is self-signed (issuer name = subject name).
Result<Certificate> issue_certificate(const CertificateRequest& request, const EVP_PKEY& subject_key,
                                      const EVP_PKEY& issuer_key, const X509* issuer);

/// The serial number as lower-case hex (how the store and CRLs name a certificate).
std::string certificate_serial_hex(const X509& certificate);
/// Hex SHA-256 of the DER encoding.
Result<std::string> certificate_fingerprint(const X509& certificate);
std::chrono::system_clock::time_point certificate_not_before(const X509& certificate);
std::chrono::system_clock::time_point certificate_not_after(const X509& certificate);
/// The subject's common name, empty when there is none.
std::string certificate_common_name(const X509& certificate);

struct CrlDeleter {
  void operator()(X509_CRL* crl) const { X509_CRL_free(crl); }
};
using Crl = std::unique_ptr<X509_CRL, CrlDeleter>;

/// A CRL signed by `issuer_key`, listing `revoked_serials_hex`, valid for `validity`.
Result<Crl> make_crl(const X509& issuer, const EVP_PKEY& issuer_key, const std::vector<std::string>& revoked_serials_hex,
                     std::chrono::hours validity);
Result<Crl> crl_from_pem_file(const std::filesystem::path& path);
Status write_crl_pem(const X509_CRL& crl, const std::filesystem::path& path);

/// Verifies `certificate` against one trust anchor (the CA that must have issued it), checking
/// signature, validity at `at`, and the CRL when given. The error says why in words.
Status verify_certificate(const X509& certificate, const X509& anchor, const X509_CRL* crl,
                          std::chrono::system_clock::time_point at);

/// One-block ECB encryption/decryption with a card management key (3DES or AES).
Result<Bytes> block_encrypt(std::uint8_t piv_algorithm, ByteView key, ByteView block);
Result<Bytes> block_decrypt(std::uint8_t piv_algorithm, ByteView key, ByteView block);

/// The last OpenSSL error as text (and clears the queue).
std::string last_openssl_error();

}  // namespace sdbox::crypto
