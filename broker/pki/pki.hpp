#pragma once

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/result.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace sdbox::broker {

/// The broker's certificate authorities, kept in one directory:
///   boxes-ca/ca.{crt,key}   issues box device certificates, and the broker's server certificate
///                           (the one CA a box must trust)
///   users-ca/ca.{crt,key}   issues card certificates
///   staff-ca/ca.{crt,key}   issues staff (admin, ops, auditor) client certificates
///   server.{crt,key}        the broker's TLS server certificate
///   boxes.crl, users.crl    revocation lists, rewritten on every revocation
class Pki {
 public:
  enum class Authority { boxes, users, staff };

  explicit Pki(std::filesystem::path directory) : directory_(std::move(directory)) {}

  [[nodiscard]] const std::filesystem::path& directory() const { return directory_; }
  [[nodiscard]] std::filesystem::path ca_directory(Authority authority) const;
  [[nodiscard]] std::filesystem::path ca_certificate(Authority authority) const {
    return ca_directory(authority) / "ca.crt";
  }
  [[nodiscard]] std::filesystem::path ca_key(Authority authority) const { return ca_directory(authority) / "ca.key"; }
  [[nodiscard]] std::filesystem::path crl(Authority authority) const;
  [[nodiscard]] std::filesystem::path server_certificate() const { return directory_ / "server.crt"; }
  [[nodiscard]] std::filesystem::path server_key() const { return directory_ / "server.key"; }

  struct InitOptions {
    std::string organization = "SD-Box";
    /// subjectAltName entries of the server certificate ("DNS:broker.example", "IP:10.0.0.1").
    std::vector<std::string> server_names = {"DNS:localhost", "IP:127.0.0.1"};
    std::chrono::hours ca_validity = std::chrono::hours(24 * 365 * 20);
    std::chrono::hours server_validity = std::chrono::hours(24 * 825);
  };
  /// Creates the three CAs, the server certificate and empty CRLs. Refuses a directory that
  /// already holds a PKI: CAs are never silently replaced.
  Status init(const InitOptions& options) const;

  /// A certificate and its key written to a folder for a box (or a member of staff).
  struct Bundle {
    std::filesystem::path directory;
    std::string serial_hex;
    std::string sha256_hex;
    std::chrono::system_clock::time_point not_after;
  };
  /// Issues a P-256 client certificate named `common_name` from `authority` into `out`:
  /// client.crt, client.key (0600) and broker-ca.crt (what the holder trusts the broker by).
  /// Refuses an existing non-empty `out`.
  Result<Bundle> issue_client_bundle(Authority authority, const std::string& common_name,
                                     const std::filesystem::path& out, std::chrono::hours validity) const;

  /// The same, in memory (the admin API hands it to the admin over TLS).
  struct IssuedClient {
    crypto::PKey key;
    crypto::Certificate certificate;
    crypto::Certificate broker_ca;
    std::string serial_hex;
    std::string sha256_hex;
  };
  Result<IssuedClient> issue_client(Authority authority, const std::string& common_name, std::chrono::hours validity) const;
  /// A certificate from `authority` for a key made elsewhere (a card's, generated on the card).
  Result<crypto::Certificate> issue_for_key(Authority authority, const crypto::CertificateRequest& request,
                                            const EVP_PKEY& subject_key) const;

  /// Rewrites the CRL of `authority` with exactly these serials.
  Status write_crl(Authority authority, const std::vector<std::string>& revoked_serials_hex) const;

 private:
  std::filesystem::path directory_;
};

}  // namespace sdbox::broker
