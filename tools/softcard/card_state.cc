#include "card_state.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"
#include "sdbox/common/tlv.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace sdbox::softcard {

namespace {

constexpr int kFormatVersion = 1;

Error config_error(const std::filesystem::path& path, std::string_view what) {
  return make_error(ErrorCategory::config, fmt::format("card state {}: {}", path.string(), what));
}

bool hex_field(const nlohmann::json& json, const char* key, Bytes& out) {
  const auto it = json.find(key);
  return it != json.end() && it->is_string() && from_hex(it->get<std::string>(), out);
}

bool int_field(const nlohmann::json& json, const char* key, int min, int max, int& out) {
  const auto it = json.find(key);
  if (it == json.end() || !it->is_number_integer()) return false;
  const auto value = it->get<long long>();
  if (value < min || value > max) return false;
  out = static_cast<int>(value);
  return true;
}

nlohmann::json secret_to_json(const Secret& secret) {
  return {{"salt", to_hex(secret.salt)},
          {"hash", to_hex(secret.hash)},
          {"tries_left", secret.tries_left},
          {"max_tries", secret.max_tries},
          {"iterations", secret.iterations}};
}

bool secret_from_json(const nlohmann::json& json, Secret& secret) {
  int iterations = 0;
  if (!json.is_object() || !hex_field(json, "salt", secret.salt) || !hex_field(json, "hash", secret.hash) ||
      secret.hash.size() != 32 || !int_field(json, "max_tries", 1, 15, secret.max_tries) ||
      !int_field(json, "tries_left", 0, secret.max_tries, secret.tries_left) ||
      !int_field(json, "iterations", 1, 10'000'000, iterations)) {
    return false;
  }
  secret.iterations = static_cast<unsigned>(iterations);
  return true;
}


}  // namespace

bool is_valid_pin_block(ByteView block, std::size_t min_digits) {
  if (block.size() != piv::kPinBlockSize) return false;
  std::size_t digits = 0;
  while (digits < block.size() && block[digits] >= '0' && block[digits] <= '9') ++digits;
  if (digits < min_digits) return false;
  for (std::size_t i = digits; i < block.size(); ++i) {
    if (block[i] != 0xFF) return false;
  }
  return true;
}

Bytes pin_block(std::string_view digits) {
  Bytes block(piv::kPinBlockSize, 0xFF);
  for (std::size_t i = 0; i < digits.size() && i < block.size(); ++i) block[i] = static_cast<std::uint8_t>(digits[i]);
  return block;
}

bool Secret::matches(ByteView candidate_block) const {
  const Bytes candidate = crypto::pbkdf2_sha256(candidate_block, salt, iterations);
  return equal_constant_time(candidate, hash);
}

Secret Secret::from_block(ByteView block, int max_tries, unsigned iterations) {
  Secret secret;
  secret.iterations = iterations;
  secret.salt = crypto::random_bytes(16);
  secret.hash = crypto::pbkdf2_sha256(block, secret.salt, iterations);
  secret.max_tries = max_tries;
  secret.tries_left = max_tries;
  return secret;
}

CardState CardState::fresh() {
  CardState state;
  state.serial = crypto::random_bytes(4);
  state.pin = Secret::from_block(pin_block("123456"), 3);
  state.puk = Secret::from_block(pin_block("12345678"), 3);
  state.management_algorithm = piv::alg::kTripleDes;
  from_hex(piv::kDefaultManagementKeyHex, state.management_key);
  state.objects[piv::object::kChuid] = piv::make_chuid(crypto::random_bytes(16));
  return state;
}

Result<CardState> StateFile::load() const {
  std::ifstream in(path_);
  if (!in) return make_error(ErrorCategory::io, fmt::format("cannot read card state {}", path_.string()), ENOENT);
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path_);
}

Result<CardState> StateFile::parse(std::string_view text, const std::filesystem::path& path_) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return config_error(path_, "not a JSON object");
  int version = 0;
  if (!int_field(json, "version", 1, 1000, version) || version != kFormatVersion) {
    return config_error(path_, "unsupported format version");
  }
  CardState state;
  int management_algorithm = 0;
  if (!hex_field(json, "serial", state.serial) || state.serial.size() != 4) return config_error(path_, "bad serial");
  if (!json.contains("pin") || !secret_from_json(json["pin"], state.pin)) return config_error(path_, "bad pin");
  if (!json.contains("puk") || !secret_from_json(json["puk"], state.puk)) return config_error(path_, "bad puk");
  if (!int_field(json, "management_algorithm", 0, 255, management_algorithm) ||
      !piv::key_length_of(static_cast<std::uint8_t>(management_algorithm))) {
    return config_error(path_, "bad management_algorithm");
  }
  state.management_algorithm = static_cast<std::uint8_t>(management_algorithm);
  if (!hex_field(json, "management_key", state.management_key) ||
      state.management_key.size() != *piv::key_length_of(state.management_algorithm)) {
    return config_error(path_, "bad management_key");
  }
  const auto keys = json.find("keys");
  if (keys == json.end() || !keys->is_object()) return config_error(path_, "bad keys");
  for (const auto& [slot_text, slot_json] : keys->items()) {
    Bytes slot;
    KeySlot key;
    int algorithm = 0;
    if (!from_hex(slot_text, slot) || slot.size() != 1 || !slot_json.is_object() ||
        !int_field(slot_json, "algorithm", 0, 255, algorithm) ||
        !hex_field(slot_json, "private_key", key.private_key_der) ||
        !crypto::private_key_from_der(key.private_key_der)) {
      return config_error(path_, fmt::format("bad key slot {}", slot_text));
    }
    key.algorithm = static_cast<std::uint8_t>(algorithm);
    state.keys[slot[0]] = std::move(key);
  }
  const auto objects = json.find("objects");
  if (objects == json.end() || !objects->is_object()) return config_error(path_, "bad objects");
  for (const auto& [tag_text, value] : objects->items()) {
    Bytes tag;
    Bytes content;
    if (!from_hex(tag_text, tag) || tag.empty() || tag.size() > 3 || !value.is_string() ||
        !from_hex(value.get<std::string>(), content)) {
      return config_error(path_, fmt::format("bad object {}", tag_text));
    }
    std::uint32_t tag_value = 0;
    for (std::uint8_t byte : tag) tag_value = (tag_value << 8) | byte;
    state.objects[tag_value] = std::move(content);
  }
  // Fingers and their counter arrived with on-card comparison; older state files have none.
  if (const auto fingers = json.find("fingers"); fingers != json.end()) {
    if (!fingers->is_object()) return config_error(path_, "bad fingers");
    for (const auto& [reference_text, finger_json] : fingers->items()) {
      Bytes reference;
      FingerReference finger;
      int position = 0;
      if (!from_hex(reference_text, reference) || reference.size() != 1 ||
          (reference[0] != 0x96 && reference[0] != 0x97) || !finger_json.is_object() ||
          !int_field(finger_json, "position", 0, 255, position) || !hex_field(finger_json, "minutiae", finger.minutiae) ||
          finger.minutiae.empty() || finger.minutiae.size() % 3 != 0) {
        return config_error(path_, fmt::format("bad finger reference {}", reference_text));
      }
      finger.position = static_cast<std::uint8_t>(position);
      state.fingers[reference[0]] = std::move(finger);
    }
    if (!int_field(json, "finger_tries_left", 0, CardState::kFingerTries, state.finger_tries_left)) {
      return config_error(path_, "bad finger_tries_left");
    }
  }
  return state;
}

Result<CardState> StateFile::load_or_create() const {
  if (std::filesystem::exists(path_)) return load();
  CardState state = CardState::fresh();
  auto saved = save(state);
  if (!saved) return saved.error();
  return state;
}

Status StateFile::save(const CardState& state) const {
  nlohmann::json json;
  json["version"] = kFormatVersion;
  json["serial"] = to_hex(state.serial);
  json["pin"] = secret_to_json(state.pin);
  json["puk"] = secret_to_json(state.puk);
  json["management_algorithm"] = state.management_algorithm;
  json["management_key"] = to_hex(state.management_key);
  json["keys"] = nlohmann::json::object();
  for (const auto& [slot, key] : state.keys) {
    json["keys"][fmt::format("{:02x}", slot)] = {{"algorithm", key.algorithm},
                                                 {"private_key", to_hex(key.private_key_der)}};
  }
  json["objects"] = nlohmann::json::object();
  for (const auto& [tag, content] : state.objects) json["objects"][to_hex(tlv::encode_tag(tag))] = to_hex(content);
  json["fingers"] = nlohmann::json::object();
  for (const auto& [reference, finger] : state.fingers) {
    json["fingers"][fmt::format("{:02x}", reference)] = {{"position", finger.position},
                                                         {"minutiae", to_hex(finger.minutiae)}};
  }
  json["finger_tries_left"] = state.finger_tries_left;
  const std::string text = json.dump(2) + "\n";

  // Write-then-rename, so a pulled card (or a crash) never leaves half a state behind.
  const std::filesystem::path temporary = path_.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCategory::io, fmt::format("cannot write {}", temporary.string()), errno);
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved_errno = errno;
      ::close(fd);
      return make_error(ErrorCategory::io, fmt::format("cannot write {}", temporary.string()), saved_errno);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return make_error(ErrorCategory::io, fmt::format("cannot flush {}", temporary.string()), errno);
  }
  if (::rename(temporary.c_str(), path_.c_str()) != 0) {
    return make_error(ErrorCategory::io, fmt::format("cannot replace {}", path_.string()), errno);
  }
  return {};
}

}  // namespace sdbox::softcard
