#pragma once

#include "sdbox/common/bytes.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

/// Constants of NIST SP 800-73-4 (PIV) used by the card, the box and the tools.
namespace sdbox::piv {

/// Full PIV application AID (RID A0 00 00 03 08, PIX 00 00 10 00 01 00).
inline constexpr std::array<std::uint8_t, 11> kAid{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00,
                                                    0x00, 0x10, 0x00, 0x01, 0x00};
/// The right-truncated form of the AID that clients also use in SELECT.
inline constexpr std::array<std::uint8_t, 9> kAidVersionless{0xA0, 0x00, 0x00, 0x03, 0x08,
                                                              0x00, 0x00, 0x10, 0x00};
inline constexpr std::array<std::uint8_t, 5> kRid{0xA0, 0x00, 0x00, 0x03, 0x08};

namespace ins {
inline constexpr std::uint8_t kSelect = 0xA4;
inline constexpr std::uint8_t kGetData = 0xCB;
inline constexpr std::uint8_t kVerify = 0x20;
inline constexpr std::uint8_t kChangeReferenceData = 0x24;
inline constexpr std::uint8_t kResetRetryCounter = 0x2C;
inline constexpr std::uint8_t kGeneralAuthenticate = 0x87;
inline constexpr std::uint8_t kGenerateKeyPair = 0x47;
inline constexpr std::uint8_t kPutData = 0xDB;
inline constexpr std::uint8_t kGetResponse = 0xC0;
// Widely deployed vendor extensions (YubiKey PIV) that peer tools use; implemented by the softcard.
inline constexpr std::uint8_t kSetManagementKey = 0xFF;
inline constexpr std::uint8_t kGetVersion = 0xFD;
inline constexpr std::uint8_t kGetSerial = 0xF8;
}  // namespace ins

namespace key {
inline constexpr std::uint8_t kGlobalPin = 0x00;
inline constexpr std::uint8_t kPin = 0x80;
inline constexpr std::uint8_t kPuk = 0x81;
inline constexpr std::uint8_t kAuthentication = 0x9A;
inline constexpr std::uint8_t kCardManagement = 0x9B;
inline constexpr std::uint8_t kSignature = 0x9C;
inline constexpr std::uint8_t kKeyManagement = 0x9D;
inline constexpr std::uint8_t kCardAuthentication = 0x9E;
/// On-card biometric comparison references (first and second finger).
inline constexpr std::uint8_t kFirstFinger = 0x96;
inline constexpr std::uint8_t kSecondFinger = 0x97;
}  // namespace key

namespace alg {
inline constexpr std::uint8_t kTripleDes = 0x03;
inline constexpr std::uint8_t kRsa1024 = 0x06;
inline constexpr std::uint8_t kRsa2048 = 0x07;
inline constexpr std::uint8_t kAes128 = 0x08;
inline constexpr std::uint8_t kAes192 = 0x0A;
inline constexpr std::uint8_t kAes256 = 0x0C;
inline constexpr std::uint8_t kEccP256 = 0x11;
inline constexpr std::uint8_t kEccP384 = 0x14;
}  // namespace alg

/// BER-TLV tags of the data objects (the value inside the 5C tag list of GET/PUT DATA).
namespace object {
inline constexpr std::uint32_t kCardCapabilityContainer = 0x5FC107;
inline constexpr std::uint32_t kChuid = 0x5FC102;
inline constexpr std::uint32_t kDiscovery = 0x7E;
inline constexpr std::uint32_t kCertAuthentication = 0x5FC105;
inline constexpr std::uint32_t kCertSignature = 0x5FC10A;
inline constexpr std::uint32_t kCertKeyManagement = 0x5FC10B;
inline constexpr std::uint32_t kCertCardAuthentication = 0x5FC101;
inline constexpr std::uint32_t kPrintedInformation = 0x5FC109;
inline constexpr std::uint32_t kSecurityObject = 0x5FC106;
inline constexpr std::uint32_t kKeyHistory = 0x5FC10C;
inline constexpr std::uint32_t kFingerprints = 0x5FC103;
inline constexpr std::uint32_t kFacialImage = 0x5FC108;
/// Biometric Information Templates Group Template: what on-card comparison expects.
inline constexpr std::uint32_t kBitGroupTemplate = 0x7F61;
}  // namespace object

/// TLV tags used inside requests and responses.
namespace tag {
inline constexpr std::uint32_t kApplicationPropertyTemplate = 0x61;
inline constexpr std::uint32_t kAid = 0x4F;
inline constexpr std::uint32_t kAuthorityReference = 0x79;
inline constexpr std::uint32_t kApplicationLabel = 0x50;
inline constexpr std::uint32_t kAlgorithms = 0xAC;
inline constexpr std::uint32_t kAlgorithmId = 0x80;
inline constexpr std::uint32_t kObjectIdentifier = 0x06;
inline constexpr std::uint32_t kTagList = 0x5C;
inline constexpr std::uint32_t kData = 0x53;
inline constexpr std::uint32_t kCertificate = 0x70;
inline constexpr std::uint32_t kCertInfo = 0x71;
inline constexpr std::uint32_t kErrorDetection = 0xFE;
inline constexpr std::uint32_t kDynamicAuthentication = 0x7C;
inline constexpr std::uint32_t kWitness = 0x80;
inline constexpr std::uint32_t kChallenge = 0x81;
inline constexpr std::uint32_t kResponse = 0x82;
inline constexpr std::uint32_t kExponentiation = 0x85;
inline constexpr std::uint32_t kControlReference = 0xAC;
inline constexpr std::uint32_t kPublicKeyTemplate = 0x7F49;
inline constexpr std::uint32_t kEcPoint = 0x86;
inline constexpr std::uint32_t kPinUsagePolicy = 0x5F2F;
/// Biometric data template of an on-card comparison VERIFY, and its minutiae data.
inline constexpr std::uint32_t kBiometricData = 0x7F2E;
inline constexpr std::uint32_t kFingerMinutiae = 0x81;
/// Finger position (ISO/IEC 19794 subtype) when a reference is written.
inline constexpr std::uint32_t kFingerPosition = 0x82;
}  // namespace tag

/// PIN usage policy, first byte (SP 800-73-4): which verifications the card offers.
namespace pin_policy {
inline constexpr std::uint8_t kApplicationPin = 0x40;
inline constexpr std::uint8_t kGlobalPin = 0x20;
inline constexpr std::uint8_t kOnCardComparison = 0x10;
}  // namespace pin_policy

inline constexpr std::size_t kPinBlockSize = 8;
inline constexpr std::size_t kPinMinLength = 6;
inline constexpr std::size_t kPinMaxLength = 8;
inline constexpr std::size_t kPukMinLength = 6;  // some issuers use 6-digit PUKs; PIV allows 8 bytes

/// The management key of a fresh card in tests and the demo (the YubiKey default, 3DES).
inline constexpr std::string_view kDefaultManagementKeyHex = "010203040506070801020304050607080102030405060708";

/// The data object tag of the certificate of an asymmetric key slot; nullopt for other keys.
std::optional<std::uint32_t> certificate_object_for(std::uint8_t key_reference);

/// A Card Holder Unique Identifier for `card_uuid` (16 bytes): the FASC-N of test agency 9999
/// (allowed for cards without a federal credential number), the UUID, an expiry date, and an
/// empty issuer signature.
Bytes make_chuid(ByteView card_uuid);

/// Block size of a management-key algorithm (8 for 3DES, 16 for AES); nullopt if not symmetric.
std::optional<std::size_t> block_size_of(std::uint8_t algorithm);
/// Key length of a management-key algorithm; nullopt if not symmetric.
std::optional<std::size_t> key_length_of(std::uint8_t algorithm);

}  // namespace sdbox::piv
