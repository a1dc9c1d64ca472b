#pragma once

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <cstdint>
#include <vector>

/// Fingerprint minutiae as the card sees them: ISO/IEC 19794-2 compact card format (three bytes
/// per minutia) and the Biometric Information Template (BIT) that tells the box how the card
/// wants its templates (ISO/IEC 7816-11, as PIV on-card comparison uses it).
namespace sdbox::finger {

enum class MinutiaType : std::uint8_t { other = 0, ending = 1, bifurcation = 2 };

/// A minutia in physical units, as the extractor produces it: millimetres from the top-left
/// corner of the image (y grows downwards), direction in radians counter-clockwise from the
/// x axis as seen on the image (ISO/IEC 19794-2), quality 0..1.
struct Minutia {
  double x_mm = 0;
  double y_mm = 0;
  double angle_rad = 0;
  MinutiaType type = MinutiaType::other;
  double quality = 0;
};

/// One compact-card minutia: X and Y in 0.1 mm, angle in 64ths of a turn (5.625°).
struct CompactMinutia {
  std::uint8_t x = 0;
  std::uint8_t y = 0;
  MinutiaType type = MinutiaType::other;
  std::uint8_t angle = 0;  ///< 0..63

  friend bool operator==(const CompactMinutia&, const CompactMinutia&) = default;
};

inline constexpr std::size_t kBytesPerMinutia = 3;
inline constexpr std::size_t kAngleSteps = 64;

/// Minutia ordering of ISO/IEC 19794-2 (a direction bit and a method).
namespace order {
inline constexpr std::uint8_t kNone = 0x00;
inline constexpr std::uint8_t kAscending = 0x01;
inline constexpr std::uint8_t kDescending = 0x02;
inline constexpr std::uint8_t kXY = 0x04;
inline constexpr std::uint8_t kYX = 0x08;
inline constexpr std::uint8_t kAngle = 0x0C;
}  // namespace order

/// ISO/IEC 19794 finger positions used as BIT subtype (right index, left index...).
namespace position {
inline constexpr std::uint8_t kRight = 0x01;
inline constexpr std::uint8_t kLeft = 0x02;
inline constexpr std::uint8_t kThumb = 0x04;
inline constexpr std::uint8_t kIndex = 0x08;
inline constexpr std::uint8_t kMiddle = 0x0C;
inline constexpr std::uint8_t kRing = 0x10;
inline constexpr std::uint8_t kLittle = 0x14;
}  // namespace position

/// What a card requires of a comparison template for one reference.
struct CardTemplateRules {
  std::uint8_t key_reference = 0x96;
  std::uint8_t finger_position = position::kRight | position::kIndex;
  std::uint8_t min_minutiae = 12;
  std::uint8_t max_minutiae = 60;
  std::uint8_t ordering = order::kAscending | order::kXY;
};

/// Encodes minutiae, three bytes each: X, Y, type << 6 | angle.
Bytes encode_compact(const std::vector<CompactMinutia>& minutiae);
/// Strict decoding: a non-empty multiple of three bytes, no reserved type (3).
Result<std::vector<CompactMinutia>> decode_compact(ByteView data);

/// Quantises physical minutiae for the card: centred on the minutiae's extent (the card compares
/// relative positions, and a sensor may be wider than the format), coordinates to 0.1 mm (those
/// still outside 0..25.5 mm are dropped), angles to 64ths of a turn; keeps the `max_minutiae` of best quality and orders
/// them as the rules say. Fails when fewer than `min_minutiae` remain.
Result<std::vector<CompactMinutia>> to_card_template(const std::vector<Minutia>& minutiae,
                                                    const CardTemplateRules& rules);

/// The BIT group template (7F61) a card publishes, one BIT per reference.
Bytes encode_bit_group(const std::vector<CardTemplateRules>& references);
/// Parses a BIT group template strictly; every BIT must be a finger compact-card BIT.
Result<std::vector<CardTemplateRules>> parse_bit_group(ByteView data);

/// CBEFF identifiers written into the BIT: format owner ISO/IEC JTC 1/SC 37, and the format type
/// this project uses for 19794-2 compact-card minutiae (box and card share this code).
inline constexpr std::uint16_t kFormatOwner = 0x0101;
inline constexpr std::uint16_t kFormatTypeCompactCard = 0x0006;
inline constexpr std::uint8_t kBiometricTypeFinger = 0x08;

}  // namespace sdbox::finger
