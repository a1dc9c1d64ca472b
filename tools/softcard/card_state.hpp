#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string_view>

namespace sdbox::softcard {

/// A reference datum the card compares against (PIN or PUK): only a salted hash is kept, so the
/// state file never holds the secret itself.
struct Secret {
  Bytes salt;
  Bytes hash;
  int tries_left = 3;
  int max_tries = 3;
  unsigned iterations = kDefaultIterations;  ///< PBKDF2-HMAC-SHA256 rounds, kept with the hash

  static constexpr unsigned kDefaultIterations = 10000;

  [[nodiscard]] bool blocked() const { return tries_left <= 0; }
  [[nodiscard]] bool matches(ByteView candidate_block) const;
  static Secret from_block(ByteView block, int max_tries, unsigned iterations = kDefaultIterations);
};

struct KeySlot {
  std::uint8_t algorithm = 0;
  Bytes private_key_der;  ///< PKCS#8; never leaves the card through any APDU
};

/// A fingerprint reference for on-card comparison: which finger, and its compact-card minutiae.
/// Written under the management key; no APDU reads it back.
struct FingerReference {
  std::uint8_t position = 0;
  Bytes minutiae;  ///< ISO/IEC 19794-2 compact card, 3 bytes per minutia
};

/// Everything a card remembers across power cycles: its "EEPROM".
struct CardState {
  Bytes serial;  ///< 4 bytes
  Secret pin;
  Secret puk;
  std::uint8_t management_algorithm = 0;
  Bytes management_key;
  std::map<std::uint8_t, KeySlot> keys;
  std::map<std::uint32_t, Bytes> objects;  ///< value of the 53 wrapper, keyed by object tag
  std::map<std::uint8_t, FingerReference> fingers;  ///< keyed by reference 96 / 97
  int finger_tries_left = kFingerTries;            ///< one counter for both references

  static constexpr int kFingerTries = 5;

  /// A factory-fresh card: default PIN 123456, PUK 12345678, the default 3DES management key,
  /// a random serial and a CHUID; no keys, no certificates.
  static CardState fresh();
};

/// Where a card's state lives: a JSON file replaced atomically (write, fsync, rename) on change.
class StateFile {
 public:
  explicit StateFile(std::filesystem::path path) : path_(std::move(path)) {}

  /// Reads the file; a missing file is an io error with code ENOENT.
  [[nodiscard]] Result<CardState> load() const;
  /// Parses the JSON text of a state file; `origin` names it in error messages.
  static Result<CardState> parse(std::string_view text, const std::filesystem::path& origin);
  /// Loads the file, or creates a fresh card there when it does not exist.
  [[nodiscard]] Result<CardState> load_or_create() const;
  [[nodiscard]] Status save(const CardState& state) const;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The PIN block format of PIV: 6 to 8 ASCII digits, padded to 8 bytes with FF.
bool is_valid_pin_block(ByteView block, std::size_t min_digits);
Bytes pin_block(std::string_view digits);

}  // namespace sdbox::softcard
