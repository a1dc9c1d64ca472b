#pragma once

#include "card/piv_client.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/crypto.hpp"
#include "sdbox/common/result.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace sdbox::ctl {

/// A certificate authority kept as a directory: ca.crt and ca.key (mode 0600).
struct CaDirectory {
  std::filesystem::path directory;
  [[nodiscard]] std::filesystem::path certificate() const { return directory / "ca.crt"; }
  [[nodiscard]] std::filesystem::path key() const { return directory / "ca.key"; }
};

/// Creates a self-signed P-256 CA; refuses to overwrite an existing one.
Status create_ca(const CaDirectory& ca, const std::string& name, std::chrono::hours validity);

/// What an enrolment station writes to a card.
struct CardProfile {
  std::string holder_name;
  std::string new_pin;
  std::string new_puk;
  std::string current_pin = "123456";
  std::string current_puk = "12345678";
  std::uint8_t management_algorithm = 0x03;
  Bytes management_key;                       ///< the card's current management key
  std::optional<Bytes> new_management_key;    ///< same algorithm
  std::chrono::hours validity = std::chrono::hours(24 * 365 * 4);  ///< renewal every 4 years
};

struct PersonalisedCard {
  Bytes certificate_der;
  Bytes serial;
  std::string subject;
};

/// Certifies the key pair a card has just generated: given the card's public key and the profile
/// (holder name, validity), the certificate to write to the card. A CA on this machine
/// (`issuer_from_ca`) or the broker's admin API.
using CertificateIssuer =
    std::function<Result<crypto::Certificate>(const EVP_PKEY& card_public_key, const CardProfile& profile)>;

/// Issues from a CA directory. Loads the CA and checks that its key belongs to its certificate
/// now, so a broken CA is found before any card is touched.
Result<CertificateIssuer> issuer_from_ca(const CaDirectory& ca);

/// Personalises a card over PIV: key pair generated on the card (slot 9A, P-256), certificate
/// from `issue` for that key, CHUID, PIN, PUK and optionally a new management key. The profile is
/// checked before the card is touched; when `issue` fails, the card holds the new key but no
/// certificate.
Result<PersonalisedCard> personalise_card(firmware::PivClient& card, const CertificateIssuer& issue,
                                          const CardProfile& profile);

}  // namespace sdbox::ctl
