#pragma once

#include "card/piv_client.hpp"

#include "sdbox/common/bytes.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace sdbox::testing {

/// The whole content of a file (empty when it cannot be read).
std::string read_file(const std::filesystem::path& path);

/// Hex to bytes; a malformed literal fails the test.
Bytes hex(std::string_view text);

/// What tests use to personalise a card.
struct TestCardProfile {
  std::string holder = "Test Researcher";
  std::string pin = "123456";
  std::string puk = "12345678";
};

/// Personalises the card like `sdboxctl card init`, with a fresh CA created in `ca_directory`;
/// returns the certificate written to the card (empty, and a test failure, when it fails).
Bytes personalise_test_card(firmware::PivClient& card, const std::filesystem::path& ca_directory,
                            const TestCardProfile& profile = {});

/// The card's default management key.
Bytes default_management_key();

}  // namespace sdbox::testing
