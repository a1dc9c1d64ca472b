#pragma once

#include "card/piv_client.hpp"
#include "finger/minutiae_extractor.hpp"

#include "sdbox/common/bytes.hpp"
#include "sdbox/common/finger_template.hpp"
#include "sdbox/common/image.hpp"
#include "sdbox/common/result.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace sdbox::ctl {

/// Finger names as admins type them ("right-index") and their ISO/IEC 19794 positions.
Result<std::uint8_t> finger_position_from_name(std::string_view name);
std::string finger_position_name(std::uint8_t position);

struct EnrolmentOptions {
  std::uint8_t finger_position = finger::position::kRight | finger::position::kIndex;
  int captures = 4;  ///< images taken; the best becomes the reference
  Bytes management_key;
  std::uint8_t management_algorithm = 0x03;
};

struct EnrolmentResult {
  std::uint8_t reference = 0;  ///< 96 or 97
  int minutiae = 0;
  double quality = 0;
  int captures_used = 0;
};

/// Takes several captures of one finger, keeps the one whose template agrees best with the
/// other captures (the most repeatable, hence the best reference) and writes it to the card
/// under the management key. At most two fingers per card: a third distinct finger is refused;
/// enrolling a finger again replaces its reference. No image or template leaves this function.
Result<EnrolmentResult> enrol_finger(firmware::PivClient& card, const std::function<Result<GrayImage>()>& capture,
                                     const EnrolmentOptions& options);

}  // namespace sdbox::ctl
