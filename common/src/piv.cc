#include "sdbox/common/piv.hpp"

#include "sdbox/common/tlv.hpp"

namespace sdbox::piv {

std::optional<std::uint32_t> certificate_object_for(std::uint8_t key_reference) {
  switch (key_reference) {
    case key::kAuthentication: return object::kCertAuthentication;
    case key::kSignature: return object::kCertSignature;
    case key::kKeyManagement: return object::kCertKeyManagement;
    case key::kCardAuthentication: return object::kCertCardAuthentication;
    default: return std::nullopt;
  }
}

Bytes make_chuid(ByteView card_uuid) {
  static constexpr std::uint8_t kTestAgencyFascn[] = {0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE,
                                                      0x73, 0x9D, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42, 0x10,
                                                      0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB};
  Bytes chuid;
  tlv::append_object(chuid, 0x30, kTestAgencyFascn);
  tlv::append_object(chuid, 0x34, card_uuid);
  tlv::append_object(chuid, 0x35, bytes_of("20351231"));
  tlv::append_object(chuid, 0x3E, {});
  tlv::append_object(chuid, 0xFE, {});
  return chuid;
}

std::optional<std::size_t> block_size_of(std::uint8_t algorithm) {
  switch (algorithm) {
    case alg::kTripleDes: return 8;
    case alg::kAes128:
    case alg::kAes192:
    case alg::kAes256: return 16;
    default: return std::nullopt;
  }
}

std::optional<std::size_t> key_length_of(std::uint8_t algorithm) {
  switch (algorithm) {
    case alg::kTripleDes: return 24;
    case alg::kAes128: return 16;
    case alg::kAes192: return 24;
    case alg::kAes256: return 32;
    default: return std::nullopt;
  }
}

}  // namespace sdbox::piv
