#include "card_personalisation.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"
#include "sdbox/common/tlv.hpp"

#include <fmt/format.h>

#include <memory>
#include <stdexcept>

namespace sdbox::ctl {

namespace {

Status pin_outcome(const Result<firmware::PinCheck>& check, std::string_view what) {
  if (!check) return check.error();
  switch (check->outcome) {
    case firmware::PinCheck::Outcome::accepted: return {};
    case firmware::PinCheck::Outcome::blocked: return make_error(ErrorCategory::card, fmt::format("{}: blocked", what));
    case firmware::PinCheck::Outcome::wrong:
      return make_error(ErrorCategory::card, fmt::format("{}: wrong current code, {} tries left", what, check->tries_left));
  }
  return make_error(ErrorCategory::internal, "unknown PIN outcome");
}


}  // namespace

Status create_ca(const CaDirectory& ca, const std::string& name, std::chrono::hours validity) {
  if (std::filesystem::exists(ca.key()) || std::filesystem::exists(ca.certificate())) {
    return make_error(ErrorCategory::usage, fmt::format("{} already holds a CA; not overwriting it", ca.directory.string()));
  }
  std::error_code error;
  std::filesystem::create_directories(ca.directory, error);
  if (error) return make_error(ErrorCategory::io, fmt::format("cannot create {}: {}", ca.directory.string(), error.message()));
  auto key = crypto::generate_ec_p256();
  if (!key) return key.error();
  crypto::CertificateRequest request;
  request.common_name = name;
  request.is_ca = true;
  request.validity = validity;
  auto certificate = crypto::issue_certificate(request, **key, **key, nullptr);
  if (!certificate) return certificate.error();
  if (auto written = crypto::write_private_key_pem(**key, ca.key()); !written) return written;
  return crypto::write_certificate_pem(**certificate, ca.certificate());
}

Result<CertificateIssuer> issuer_from_ca(const CaDirectory& ca) {
  auto ca_certificate = crypto::certificate_from_pem_file(ca.certificate());
  if (!ca_certificate) return ca_certificate.error();
  auto ca_key = crypto::private_key_from_pem_file(ca.key());
  if (!ca_key) return ca_key.error();
  if (X509_check_private_key(ca_certificate->get(), ca_key->get()) != 1) {
    return make_error(ErrorCategory::crypto, "the CA key does not belong to the CA certificate");
  }
  // std::function must be copyable: the CA is shared by the copies.
  std::shared_ptr<X509> shared_certificate(ca_certificate->release(), X509_free);
  std::shared_ptr<EVP_PKEY> shared_key(ca_key->release(), EVP_PKEY_free);
  return CertificateIssuer([shared_certificate, shared_key](const EVP_PKEY& card_public_key, const CardProfile& profile) {
    crypto::CertificateRequest request;
    request.common_name = profile.holder_name;
    request.client_auth = true;
    request.validity = profile.validity;
    return crypto::issue_certificate(request, card_public_key, *shared_key, shared_certificate.get());
  });
}

Result<PersonalisedCard> personalise_card(firmware::PivClient& card, const CertificateIssuer& issue,
                                          const CardProfile& profile) {
  if (!issue) throw std::invalid_argument("personalise_card needs a certificate issuer");
  // Check everything that can be checked before the card is touched.
  if (auto format = firmware::check_pin_format(profile.new_pin); !format) {
    return make_error(ErrorCategory::usage, "the new PIN " + format.error().message);
  }
  if (auto format = firmware::check_pin_format(profile.new_puk, piv::kPukMinLength); !format) {
    return make_error(ErrorCategory::usage, "the new PUK " + format.error().message);
  }
  if (profile.holder_name.empty()) return make_error(ErrorCategory::usage, "the card holder's name is empty");

  if (auto selected = card.select(); !selected) return selected.error();
  if (auto authenticated = card.authenticate_management(profile.management_algorithm, profile.management_key);
      !authenticated) {
    return authenticated.error();
  }
  auto point = card.generate_key(piv::key::kAuthentication, piv::alg::kEccP256);
  if (!point) return point.error();
  auto public_key = crypto::ec_public_key_from_point(*point);
  if (!public_key) return public_key.error();

  auto certificate = issue(**public_key, profile);
  if (!certificate) return certificate.error();
  // The issuer may be another machine: a certificate for any other key would make a card that
  // can never log in.
  auto certified = crypto::certificate_public_key(**certificate);
  if (!certified) return certified.error();
  if (EVP_PKEY_eq(certified->get(), public_key->get()) != 1) {
    return make_error(ErrorCategory::crypto, "the issued certificate is not for the key generated on the card");
  }
  auto der = crypto::certificate_to_der(**certificate);
  if (!der) return der.error();
  if (auto written = card.put_certificate(piv::key::kAuthentication, *der); !written) return written.error();
  if (auto written = card.put_object(piv::object::kChuid, piv::make_chuid(crypto::random_bytes(16))); !written) return written.error();

  if (auto changed = pin_outcome(card.change_pin(profile.current_pin, profile.new_pin), "changing the PIN"); !changed) {
    return changed.error();
  }
  if (auto changed = pin_outcome(card.change_puk(profile.current_puk, profile.new_puk), "changing the PUK"); !changed) {
    return changed.error();
  }
  if (profile.new_management_key) {
    if (auto set = card.set_management_key(profile.management_algorithm, *profile.new_management_key); !set) {
      return set.error();
    }
  }
  PersonalisedCard result;
  result.certificate_der = std::move(*der);
  result.subject = crypto::certificate_subject(**certificate);
  if (auto serial = card.serial()) result.serial = std::move(*serial);
  return result;
}

}  // namespace sdbox::ctl
