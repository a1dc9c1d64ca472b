#include "sdbox/common/piv.hpp"

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
