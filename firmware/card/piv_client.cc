#include "card/piv_client.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"
#include "sdbox/common/tlv.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sdbox::firmware {

namespace {

Error card_error(std::string_view what, std::uint16_t status) {
  return make_error(ErrorCategory::card, fmt::format("{}: {}", what, apdu::describe_status(status)), status);
}

Bytes encode_pin(std::string_view pin) {
  Bytes block(piv::kPinBlockSize, 0xFF);
  std::copy(pin.begin(), pin.end(), block.begin());
  return block;
}

Result<PinCheck> pin_check_from(std::uint16_t status, std::string_view what) {
  if (status == apdu::sw::kOk) return PinCheck{PinCheck::Outcome::accepted, -1};
  if (status == apdu::sw::kAuthenticationBlocked) return PinCheck{PinCheck::Outcome::blocked, 0};
  if ((status & 0xFFF0) == 0x63C0) {
    const int tries = status & 0x0F;
    return PinCheck{tries == 0 ? PinCheck::Outcome::blocked : PinCheck::Outcome::wrong, tries};
  }
  return card_error(what, status);
}

Bytes tag_list(std::uint32_t tag) { return tlv::encode(piv::tag::kTagList, tlv::encode_tag(tag)); }

/// The non-empty value of `tag` inside the 7C dynamic authentication template of a response.
Result<Bytes> dynamic_authentication_item(ByteView response, std::uint32_t tag, std::string_view what) {
  auto outer = tlv::expect_single(response, piv::tag::kDynamicAuthentication);
  if (!outer) return make_error(ErrorCategory::card, fmt::format("{}: {}", what, outer.error().message));
  auto item = tlv::find(*outer, tag);
  if (!item) return make_error(ErrorCategory::card, fmt::format("{}: {}", what, item.error().message));
  if (!*item || (*item)->empty()) return make_error(ErrorCategory::card, fmt::format("{}: missing tag {:X}", what, tag));
  return Bytes((*item)->begin(), (*item)->end());
}

}  // namespace

Status check_pin_format(std::string_view pin, std::size_t min_digits) {
  if (pin.size() < min_digits || pin.size() > piv::kPinMaxLength) {
    return make_error(ErrorCategory::usage, fmt::format("must be {} to 8 digits", min_digits));
  }
  if (!std::all_of(pin.begin(), pin.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return make_error(ErrorCategory::usage, "must contain digits only");
  }
  return {};
}

Result<apdu::Response> PivClient::send(const apdu::Command& command) {
  return apdu::exchange(transport_, command, apdu::Form::short_form);
}

Status PivClient::expect_ok(const apdu::Command& command, std::string_view what) {
  auto response = send(command);
  if (!response) return response.error();
  if (!response->ok()) return card_error(what, response->sw);
  return {};
}

Status PivClient::select() {
  apdu::Command command{0x00, piv::ins::kSelect, 0x04, 0x00, Bytes(piv::kAid.begin(), piv::kAid.end()), 256};
  auto response = send(command);
  if (!response) return response.error();
  if (!response->ok()) return card_error("this card has no PIV application", response->sw);
  auto apt = tlv::expect_single(response->data, piv::tag::kApplicationPropertyTemplate);
  if (!apt) return make_error(ErrorCategory::card, "the PIV application answered SELECT without a property template");
  return {};
}

Result<Bytes> PivClient::read_object(std::uint32_t tag) {
  auto response = send({0x00, piv::ins::kGetData, 0x3F, 0xFF, tag_list(tag), 256});
  if (!response) return response.error();
  if (!response->ok()) return card_error(fmt::format("reading object {:X}", tag), response->sw);
  auto content = tlv::expect_single(response->data, tag == piv::object::kDiscovery ? tag : piv::tag::kData);
  if (!content) return make_error(ErrorCategory::card, fmt::format("object {:X}: {}", tag, content.error().message));
  return Bytes(content->begin(), content->end());
}

Result<Bytes> PivClient::read_certificate(std::uint8_t slot) {
  const auto object = piv::certificate_object_for(slot);
  if (!object) return make_error(ErrorCategory::usage, fmt::format("slot {:02X} holds no certificate", slot));
  auto content = read_object(*object);
  if (!content) return content.error();
  auto certificate = tlv::find(*content, piv::tag::kCertificate);
  if (!certificate) return make_error(ErrorCategory::card, "certificate object: " + certificate.error().message);
  if (!*certificate) return make_error(ErrorCategory::card, "certificate object without a certificate");
  auto info = tlv::find(*content, piv::tag::kCertInfo);
  if (info && *info && !(*info)->empty() && (**info)[0] != 0x00) {
    return make_error(ErrorCategory::card, "compressed certificates are not supported");
  }
  return Bytes((*certificate)->begin(), (*certificate)->end());
}

Result<PinStatus> PivClient::reference_status(std::uint8_t reference, std::string_view what) {
  auto response = send({0x00, piv::ins::kVerify, 0x00, reference, {}, std::nullopt});
  if (!response) return response.error();
  if (response->ok()) return PinStatus{true, false, -1};
  if (response->sw == apdu::sw::kAuthenticationBlocked) return PinStatus{false, true, 0};
  if ((response->sw & 0xFFF0) == 0x63C0) {
    const int tries = response->sw & 0x0F;
    return PinStatus{false, tries == 0, tries};
  }
  return card_error(what, response->sw);
}

Result<PinStatus> PivClient::pin_status() { return reference_status(piv::key::kPin, "reading the PIN status"); }

Result<PinStatus> PivClient::finger_status(std::uint8_t reference) {
  return reference_status(reference, "reading the finger status");
}

Result<std::vector<finger::CardTemplateRules>> PivClient::finger_references() {
  auto response = send({0x00, piv::ins::kGetData, 0x3F, 0xFF, tag_list(piv::object::kBitGroupTemplate), 256});
  if (!response) return response.error();
  if (response->sw == apdu::sw::kFileNotFound) return std::vector<finger::CardTemplateRules>{};
  if (!response->ok()) return card_error("reading the biometric information templates", response->sw);
  auto rules = finger::parse_bit_group(response->data);
  if (!rules) return make_error(ErrorCategory::card, "biometric information templates: " + rules.error().message);
  return rules;
}

Result<PinCheck> PivClient::verify_finger(std::uint8_t reference, const std::vector<finger::CompactMinutia>& probe) {
  Bytes data = tlv::encode(piv::tag::kBiometricData, tlv::encode(piv::tag::kFingerMinutiae, finger::encode_compact(probe)));
  auto response = send({0x00, piv::ins::kVerify, 0x00, reference, data, std::nullopt});
  secure_wipe(data);
  if (!response) return response.error();
  return pin_check_from(response->sw, "verifying the finger");
}

Status PivClient::write_finger_reference(std::uint8_t reference, std::uint8_t finger_position,
                                         const std::vector<finger::CompactMinutia>& minutiae) {
  Bytes data = tlv::encode(piv::tag::kFingerPosition, Bytes{finger_position});
  append(data, tlv::encode(piv::tag::kBiometricData, tlv::encode(piv::tag::kFingerMinutiae, finger::encode_compact(minutiae))));
  auto status = expect_ok({0x00, piv::ins::kChangeReferenceData, 0x01, reference, data, std::nullopt},
                          "writing the finger reference");
  secure_wipe(data);
  return status;
}

Result<PinCheck> PivClient::verify_pin(std::string_view pin) {
  if (auto format = check_pin_format(pin); !format) {
    return make_error(ErrorCategory::usage, "the PIN " + format.error().message);
  }
  Bytes block = encode_pin(pin);
  auto response = send({0x00, piv::ins::kVerify, 0x00, piv::key::kPin, block, std::nullopt});
  secure_wipe(block);
  if (!response) return response.error();
  return pin_check_from(response->sw, "verifying the PIN");
}

Status PivClient::reset_pin_status() {
  return expect_ok({0x00, piv::ins::kVerify, 0xFF, piv::key::kPin, {}, std::nullopt}, "resetting the PIN status");
}

Result<PinCheck> PivClient::reference_data_command(std::uint8_t ins, std::uint8_t key, std::string_view first,
                                                   std::string_view second, std::size_t first_min) {
  if (auto format = check_pin_format(first, first_min); !format) {
    return make_error(ErrorCategory::usage, "the current code " + format.error().message);
  }
  if (auto format = check_pin_format(second, key == piv::key::kPuk ? piv::kPukMinLength : piv::kPinMinLength); !format) {
    return make_error(ErrorCategory::usage, "the new code " + format.error().message);
  }
  Bytes data = encode_pin(first);
  append(data, encode_pin(second));
  auto response = send({0x00, ins, 0x00, key, data, std::nullopt});
  secure_wipe(data);
  if (!response) return response.error();
  return pin_check_from(response->sw, "changing reference data");
}

Result<PinCheck> PivClient::change_pin(std::string_view current, std::string_view replacement) {
  return reference_data_command(piv::ins::kChangeReferenceData, piv::key::kPin, current, replacement,
                                piv::kPinMinLength);
}

Result<PinCheck> PivClient::change_puk(std::string_view current, std::string_view replacement) {
  return reference_data_command(piv::ins::kChangeReferenceData, piv::key::kPuk, current, replacement,
                                piv::kPukMinLength);
}

Result<PinCheck> PivClient::unblock_pin(std::string_view puk, std::string_view new_pin) {
  return reference_data_command(piv::ins::kResetRetryCounter, piv::key::kPin, puk, new_pin, piv::kPukMinLength);
}

Result<Bytes> PivClient::sign_digest(std::uint8_t slot, std::uint8_t algorithm, ByteView digest) {
  Bytes inner;
  tlv::append_object(inner, piv::tag::kResponse, {});
  tlv::append_object(inner, piv::tag::kChallenge, digest);
  auto response =
      send({0x00, piv::ins::kGeneralAuthenticate, algorithm, slot, tlv::encode(piv::tag::kDynamicAuthentication, inner), 256});
  if (!response) return response.error();
  if (!response->ok()) return card_error("the card refused to sign", response->sw);
  return dynamic_authentication_item(response->data, piv::tag::kResponse, "signature response");
}

Status PivClient::authenticate_management(std::uint8_t algorithm, ByteView key) {
  const auto block = piv::block_size_of(algorithm);
  if (!block || key.size() != piv::key_length_of(algorithm)) {
    return make_error(ErrorCategory::usage, "management key does not match its algorithm");
  }
  // Mutual authentication: the card's witness proves we hold the key, our challenge proves it does.
  auto first = send({0x00, piv::ins::kGeneralAuthenticate, algorithm, piv::key::kCardManagement,
                     tlv::encode(piv::tag::kDynamicAuthentication, tlv::encode(piv::tag::kWitness, {})), 256});
  if (!first) return first.error();
  if (!first->ok()) return card_error("management key authentication", first->sw);
  auto witness = dynamic_authentication_item(first->data, piv::tag::kWitness, "witness response");
  if (!witness) return witness.error();
  if (witness->size() != *block) return make_error(ErrorCategory::card, "the card sent a witness of the wrong size");
  auto decrypted = crypto::block_decrypt(algorithm, key, *witness);
  if (!decrypted) return decrypted.error();
  const Bytes challenge = crypto::random_bytes(*block);
  Bytes inner;
  tlv::append_object(inner, piv::tag::kWitness, *decrypted);
  tlv::append_object(inner, piv::tag::kChallenge, challenge);
  auto second = send({0x00, piv::ins::kGeneralAuthenticate, algorithm, piv::key::kCardManagement,
                      tlv::encode(piv::tag::kDynamicAuthentication, inner), 256});
  if (!second) return second.error();
  if (!second->ok()) return card_error("management key rejected", second->sw);
  auto answer = dynamic_authentication_item(second->data, piv::tag::kResponse, "challenge response");
  if (!answer) return answer.error();
  auto expected = crypto::block_encrypt(algorithm, key, challenge);
  if (!expected) return expected.error();
  if (!equal_constant_time(*answer, *expected)) {
    return make_error(ErrorCategory::card, "the card failed to prove it holds the management key");
  }
  return {};
}

Result<Bytes> PivClient::generate_key(std::uint8_t slot, std::uint8_t algorithm) {
  const Bytes control = tlv::encode(piv::tag::kControlReference, tlv::encode(piv::tag::kAlgorithmId, Bytes{algorithm}));
  auto response = send({0x00, piv::ins::kGenerateKeyPair, 0x00, slot, control, 256});
  if (!response) return response.error();
  if (!response->ok()) return card_error("generating a key on the card", response->sw);
  auto key = tlv::expect_single(response->data, piv::tag::kPublicKeyTemplate);
  if (!key) return make_error(ErrorCategory::card, "public key response: " + key.error().message);
  auto point = tlv::find(*key, piv::tag::kEcPoint);
  if (!point || !*point) return make_error(ErrorCategory::card, "public key response without an EC point");
  return Bytes((*point)->begin(), (*point)->end());
}

Status PivClient::put_object(std::uint32_t tag, ByteView content) {
  Bytes data = tag_list(tag);
  tlv::append_object(data, piv::tag::kData, content);
  return expect_ok({0x00, piv::ins::kPutData, 0x3F, 0xFF, data, std::nullopt}, fmt::format("writing object {:X}", tag));
}

Status PivClient::put_certificate(std::uint8_t slot, ByteView certificate_der) {
  const auto object = piv::certificate_object_for(slot);
  if (!object) return make_error(ErrorCategory::usage, fmt::format("slot {:02X} holds no certificate", slot));
  Bytes content;
  tlv::append_object(content, piv::tag::kCertificate, certificate_der);
  tlv::append_object(content, piv::tag::kCertInfo, Bytes{0x00});
  tlv::append_object(content, piv::tag::kErrorDetection, {});
  return put_object(*object, content);
}

Status PivClient::set_management_key(std::uint8_t algorithm, ByteView key) {
  const auto length = piv::key_length_of(algorithm);
  if (!length || key.size() != *length) return make_error(ErrorCategory::usage, "management key does not match its algorithm");
  Bytes data{algorithm, piv::key::kCardManagement, static_cast<std::uint8_t>(key.size())};
  append(data, key);
  auto status = expect_ok({0x00, piv::ins::kSetManagementKey, 0xFF, 0xFF, data, std::nullopt}, "setting the management key");
  secure_wipe(data);
  return status;
}

Result<Bytes> PivClient::serial() {
  auto response = send({0x00, piv::ins::kGetSerial, 0x00, 0x00, {}, 256});
  if (!response) return response.error();
  if (!response->ok()) return card_error("reading the serial number", response->sw);
  return response->data;
}

}  // namespace sdbox::firmware
