#include "test_card.hpp"

#include "card_personalisation.hpp"

#include "sdbox/common/piv.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace sdbox::testing {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Bytes hex(std::string_view text) {
  Bytes out;
  EXPECT_TRUE(from_hex(text, out)) << "bad hex literal: " << text;
  return out;
}

Bytes default_management_key() {
  Bytes key;
  from_hex(piv::kDefaultManagementKeyHex, key);
  return key;
}

Bytes personalise_test_card(firmware::PivClient& card, const std::filesystem::path& ca_directory,
                            const TestCardProfile& profile) {
  const ctl::CaDirectory ca{ca_directory};
  if (!std::filesystem::exists(ca.certificate())) {
    EXPECT_TRUE(ctl::create_ca(ca, "Test CA", std::chrono::hours(24)).ok());
  }
  ctl::CardProfile card_profile;
  card_profile.holder_name = profile.holder;
  card_profile.new_pin = profile.pin;
  card_profile.new_puk = profile.puk;
  card_profile.management_key = default_management_key();
  auto issuer = ctl::issuer_from_ca(ca);
  EXPECT_TRUE(issuer) << issuer.error().describe();
  if (!issuer) return {};
  auto done = ctl::personalise_card(card, *issuer, card_profile);
  EXPECT_TRUE(done) << done.error().describe();
  return done ? done->certificate_der : Bytes{};
}

}  // namespace sdbox::testing
