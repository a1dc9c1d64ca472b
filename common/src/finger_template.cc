#include "sdbox/common/finger_template.hpp"

#include "sdbox/common/tlv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace sdbox::finger {

namespace {

constexpr std::uint32_t kBitGroupTag = 0x7F61;
constexpr std::uint32_t kBitTag = 0x7F60;
constexpr std::uint32_t kNumberOfBitsTag = 0x02;
constexpr std::uint32_t kReferenceQualifierTag = 0x83;
constexpr std::uint32_t kHeaderTag = 0xA1;
constexpr std::uint32_t kTypeTag = 0x81;
constexpr std::uint32_t kSubtypeTag = 0x82;
constexpr std::uint32_t kFormatOwnerTag = 0x87;
constexpr std::uint32_t kFormatTypeTag = 0x88;
constexpr std::uint32_t kAlgorithmParametersTag = 0xB1;
constexpr std::uint32_t kMinMaxMinutiaeTag = 0x81;
constexpr std::uint32_t kOrderTag = 0x82;

Error malformed(std::string message) { return make_error(ErrorCategory::tlv, "finger template: " + std::move(message)); }

Bytes be16(std::uint16_t value) { return {static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)}; }

/// The single value of `tag` among `objects`, of exactly `size` bytes.
Result<ByteView> exactly_one(const std::vector<tlv::Object>& objects, std::uint32_t tag, std::size_t size,
                             std::string_view what) {
  std::optional<ByteView> found;
  for (const auto& object : objects) {
    if (object.tag != tag) continue;
    if (found) return malformed(fmt::format("{} appears twice", what));
    found = object.value;
  }
  if (!found) return malformed(fmt::format("{} is missing", what));
  if (found->size() != size) return malformed(fmt::format("{} has {} bytes, not {}", what, found->size(), size));
  return *found;
}

bool sorted_by(const CompactMinutia& a, const CompactMinutia& b, std::uint8_t ordering) {
  const bool descending = (ordering & order::kDescending) != 0;
  auto key = [ordering](const CompactMinutia& m) {
    switch (ordering & 0x1C) {
      case order::kXY: return (m.x << 8) | m.y;
      case order::kYX: return (m.y << 8) | m.x;
      case order::kAngle: return static_cast<int>(m.angle);
      default: return 0;
    }
  };
  return descending ? key(a) > key(b) : key(a) < key(b);
}

}  // namespace

Bytes encode_compact(const std::vector<CompactMinutia>& minutiae) {
  Bytes out;
  out.reserve(minutiae.size() * kBytesPerMinutia);
  for (const auto& minutia : minutiae) {
    out.push_back(minutia.x);
    out.push_back(minutia.y);
    out.push_back(static_cast<std::uint8_t>((static_cast<unsigned>(minutia.type) << 6) | (minutia.angle & 0x3F)));
  }
  return out;
}

Result<std::vector<CompactMinutia>> decode_compact(ByteView data) {
  if (data.empty()) return malformed("no minutiae");
  if (data.size() % kBytesPerMinutia != 0) {
    return malformed(fmt::format("{} bytes is not a whole number of 3-byte minutiae", data.size()));
  }
  std::vector<CompactMinutia> minutiae;
  minutiae.reserve(data.size() / kBytesPerMinutia);
  for (std::size_t at = 0; at < data.size(); at += kBytesPerMinutia) {
    const std::uint8_t type = data[at + 2] >> 6;
    if (type == 3) return malformed(fmt::format("minutia {} has the reserved type 3", at / kBytesPerMinutia));
    minutiae.push_back({data[at], data[at + 1], static_cast<MinutiaType>(type), static_cast<std::uint8_t>(data[at + 2] & 0x3F)});
  }
  return minutiae;
}

Result<std::vector<CompactMinutia>> to_card_template(const std::vector<Minutia>& minutiae,
                                                    const CardTemplateRules& rules) {
  // The card compares positions relative to each other, so the template is centred on the
  // minutiae: a capture wider than 25.5 mm (FVC2004's sensor is 32.5 mm) keeps the whole finger.
  double low_x = HUGE_VAL, high_x = -HUGE_VAL, low_y = HUGE_VAL, high_y = -HUGE_VAL;
  for (const auto& minutia : minutiae) {
    if (!std::isfinite(minutia.x_mm) || !std::isfinite(minutia.y_mm) || !std::isfinite(minutia.angle_rad)) continue;
    low_x = std::min(low_x, minutia.x_mm), high_x = std::max(high_x, minutia.x_mm);
    low_y = std::min(low_y, minutia.y_mm), high_y = std::max(high_y, minutia.y_mm);
  }
  const double shift_x = low_x <= high_x ? 12.75 - (low_x + high_x) / 2 : 0;
  const double shift_y = low_y <= high_y ? 12.75 - (low_y + high_y) / 2 : 0;
  std::vector<Minutia> usable;
  usable.reserve(minutiae.size());
  for (const auto& minutia : minutiae) {
    Minutia moved = minutia;
    moved.x_mm += shift_x;
    moved.y_mm += shift_y;
    const double x = std::round(moved.x_mm * 10.0);
    const double y = std::round(moved.y_mm * 10.0);
    if (x >= 0 && x <= 255 && y >= 0 && y <= 255 && std::isfinite(moved.angle_rad)) usable.push_back(moved);
  }
  std::stable_sort(usable.begin(), usable.end(),
                   [](const Minutia& a, const Minutia& b) { return a.quality > b.quality; });
  if (usable.size() > rules.max_minutiae) usable.resize(rules.max_minutiae);
  if (usable.size() < rules.min_minutiae) {
    return make_error(ErrorCategory::usage, fmt::format("{} usable minutiae, the card needs at least {}", usable.size(),
                                                        rules.min_minutiae));
  }
  std::vector<CompactMinutia> compact;
  compact.reserve(usable.size());
  constexpr double kTurn = 2 * std::numbers::pi;
  for (const Minutia& minutia : usable) {
    double turns = std::fmod(minutia.angle_rad, kTurn) / kTurn;
    if (turns < 0) turns += 1.0;
    const auto angle = static_cast<std::uint8_t>(static_cast<int>(std::lround(turns * kAngleSteps)) % kAngleSteps);
    compact.push_back({static_cast<std::uint8_t>(std::lround(minutia.x_mm * 10.0)),
                       static_cast<std::uint8_t>(std::lround(minutia.y_mm * 10.0)), minutia.type, angle});
  }
  if ((rules.ordering & 0x1C) != 0) {
    std::stable_sort(compact.begin(), compact.end(),
                     [&rules](const CompactMinutia& a, const CompactMinutia& b) { return sorted_by(a, b, rules.ordering); });
  }
  return compact;
}

Bytes encode_bit_group(const std::vector<CardTemplateRules>& references) {
  Bytes group;
  tlv::append_object(group, kNumberOfBitsTag, Bytes{static_cast<std::uint8_t>(references.size())});
  for (const auto& rules : references) {
    Bytes header;
    tlv::append_object(header, kTypeTag, Bytes{kBiometricTypeFinger});
    tlv::append_object(header, kSubtypeTag, Bytes{rules.finger_position});
    tlv::append_object(header, kFormatOwnerTag, be16(kFormatOwner));
    tlv::append_object(header, kFormatTypeTag, be16(kFormatTypeCompactCard));
    Bytes parameters;
    tlv::append_object(parameters, kMinMaxMinutiaeTag, Bytes{rules.min_minutiae, rules.max_minutiae});
    tlv::append_object(parameters, kOrderTag, Bytes{rules.ordering});
    tlv::append_object(header, kAlgorithmParametersTag, parameters);
    Bytes bit;
    tlv::append_object(bit, kReferenceQualifierTag, Bytes{rules.key_reference});
    tlv::append_object(bit, kHeaderTag, header);
    tlv::append_object(group, kBitTag, bit);
  }
  return tlv::encode(kBitGroupTag, group);
}

Result<std::vector<CardTemplateRules>> parse_bit_group(ByteView data) {
  auto group = tlv::expect_single(data, kBitGroupTag);
  if (!group) return group.error();
  auto objects = tlv::parse_all(*group);
  if (!objects) return objects.error();
  auto count = exactly_one(*objects, kNumberOfBitsTag, 1, "number of BITs");
  if (!count) return count.error();
  std::vector<CardTemplateRules> references;
  for (const auto& object : *objects) {
    if (object.tag == kNumberOfBitsTag) continue;
    if (object.tag != kBitTag) return malformed(fmt::format("unexpected tag {:X} in the BIT group", object.tag));
    auto bit = tlv::parse_all(object.value);
    if (!bit) return bit.error();
    auto qualifier = exactly_one(*bit, kReferenceQualifierTag, 1, "reference qualifier");
    if (!qualifier) return qualifier.error();
    std::optional<ByteView> header_value;
    for (const auto& item : *bit) {
      if (item.tag == kHeaderTag) header_value = item.value;
      else if (item.tag != kReferenceQualifierTag) return malformed(fmt::format("unexpected tag {:X} in a BIT", item.tag));
    }
    if (!header_value) return malformed("BIT without a biometric header");
    auto header = tlv::parse_all(*header_value);
    if (!header) return header.error();
    auto type = exactly_one(*header, kTypeTag, 1, "biometric type");
    auto subtype = exactly_one(*header, kSubtypeTag, 1, "biometric subtype");
    auto owner = exactly_one(*header, kFormatOwnerTag, 2, "format owner");
    auto format = exactly_one(*header, kFormatTypeTag, 2, "format type");
    for (auto* part : {&type, &subtype, &owner, &format}) {
      if (!*part) return part->error();
    }
    if ((*type)[0] != kBiometricTypeFinger) return malformed("BIT is not for a finger");
    if (((*owner)[0] << 8 | (*owner)[1]) != kFormatOwner || ((*format)[0] << 8 | (*format)[1]) != kFormatTypeCompactCard) {
      return malformed("BIT asks for a template format other than 19794-2 compact card");
    }
    std::optional<ByteView> parameters_bytes;
    for (const auto& item : *header) {
      if (item.tag != kAlgorithmParametersTag) continue;
      if (parameters_bytes) return malformed("matching algorithm parameters appear twice");
      parameters_bytes = item.value;
    }
    if (!parameters_bytes) return malformed("BIT without matching algorithm parameters");
    auto parameters = tlv::parse_all(*parameters_bytes);
    if (!parameters) return parameters.error();
    auto min_max = exactly_one(*parameters, kMinMaxMinutiaeTag, 2, "minimum and maximum minutiae");
    auto ordering = exactly_one(*parameters, kOrderTag, 1, "minutia order");
    if (!min_max) return min_max.error();
    if (!ordering) return ordering.error();
    CardTemplateRules rules;
    rules.key_reference = (*qualifier)[0];
    rules.finger_position = (*subtype)[0];
    rules.min_minutiae = (*min_max)[0];
    rules.max_minutiae = (*min_max)[1];
    rules.ordering = (*ordering)[0];
    if (rules.min_minutiae == 0 || rules.min_minutiae > rules.max_minutiae || rules.max_minutiae > 85) {
      return malformed("BIT minutiae bounds are inconsistent");
    }
    references.push_back(rules);
  }
  if (references.size() != (*count)[0]) return malformed("the BIT count does not match the BITs present");
  return references;
}

}  // namespace sdbox::finger
