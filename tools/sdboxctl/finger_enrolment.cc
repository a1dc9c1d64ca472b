#include "finger_enrolment.hpp"

#include "sdbox/common/finger_match.hpp"
#include "sdbox/common/piv.hpp"

#include <fmt/format.h>

#include <array>

namespace sdbox::ctl {

namespace {

struct NamedFinger {
  const char* name;
  std::uint8_t position;
};

constexpr std::array<NamedFinger, 10> kFingers{{
    {"right-thumb", finger::position::kRight | finger::position::kThumb},
    {"right-index", finger::position::kRight | finger::position::kIndex},
    {"right-middle", finger::position::kRight | finger::position::kMiddle},
    {"right-ring", finger::position::kRight | finger::position::kRing},
    {"right-little", finger::position::kRight | finger::position::kLittle},
    {"left-thumb", finger::position::kLeft | finger::position::kThumb},
    {"left-index", finger::position::kLeft | finger::position::kIndex},
    {"left-middle", finger::position::kLeft | finger::position::kMiddle},
    {"left-ring", finger::position::kLeft | finger::position::kRing},
    {"left-little", finger::position::kLeft | finger::position::kLittle},
}};

struct Capture {
  std::vector<finger::CompactMinutia> card_template;
  double quality = 0;
};

}  // namespace

Result<std::uint8_t> finger_position_from_name(std::string_view name) {
  for (const auto& finger : kFingers) {
    if (name == finger.name) return finger.position;
  }
  return make_error(ErrorCategory::usage, fmt::format("unknown finger \"{}\" (right-index, left-thumb, ...)", name));
}

std::string finger_position_name(std::uint8_t position) {
  for (const auto& finger : kFingers) {
    if (finger.position == position) return finger.name;
  }
  return fmt::format("finger 0x{:02x}", position);
}

Result<EnrolmentResult> enrol_finger(firmware::PivClient& card, const std::function<Result<GrayImage>()>& capture,
                                     const EnrolmentOptions& options) {
  if (options.captures < 2 || options.captures > 10) return make_error(ErrorCategory::usage, "take 2 to 10 captures");
  if (auto selected = card.select(); !selected) return selected.error();
  auto enrolled = card.finger_references();
  if (!enrolled) return enrolled.error();

  // Which reference: the one already holding this finger, else a free one; never a third finger.
  std::uint8_t reference = 0;
  bool first_free = true, second_free = true;
  for (const auto& rules : *enrolled) {
    if (rules.finger_position == options.finger_position) reference = rules.key_reference;
    if (rules.key_reference == piv::key::kFirstFinger) first_free = false;
    if (rules.key_reference == piv::key::kSecondFinger) second_free = false;
  }
  if (reference == 0) {
    if (!first_free && !second_free) {
      return make_error(ErrorCategory::usage, "this card already holds two fingers, the most a card may hold");
    }
    reference = first_free ? piv::key::kFirstFinger : piv::key::kSecondFinger;
  }

  finger::CardTemplateRules rules;
  rules.key_reference = reference;
  rules.finger_position = options.finger_position;
  std::vector<Capture> captures;
  for (int i = 0; i < options.captures; ++i) {
    auto image = capture();
    if (!image) return image.error();
    auto extraction = firmware::extract_minutiae(*image);
    if (!extraction) return extraction.error();
    auto compact = finger::to_card_template(extraction->minutiae, rules);
    if (!compact) continue;  // too few minutiae in this capture: it simply does not count
    captures.push_back({std::move(*compact), extraction->quality});
  }
  if (captures.size() < 2) {
    return make_error(ErrorCategory::usage,
                      fmt::format("only {} of {} captures were usable: clean the sensor and the finger, press flatter",
                                  captures.size(), options.captures));
  }
  // The most repeatable capture: highest total score against the others.
  std::size_t best = 0;
  double best_agreement = -1;
  for (std::size_t i = 0; i < captures.size(); ++i) {
    double agreement = 0;
    for (std::size_t j = 0; j < captures.size(); ++j) {
      if (i != j) agreement += finger::compare(captures[i].card_template, captures[j].card_template).score;
    }
    agreement += captures[i].quality;  // tie-break
    if (agreement > best_agreement) {
      best_agreement = agreement;
      best = i;
    }
  }
  // The captures must agree with each other: otherwise several fingers were presented.
  int agreeing = 0;
  for (std::size_t j = 0; j < captures.size(); ++j) {
    if (j != best && finger::compare(captures[best].card_template, captures[j].card_template).match) ++agreeing;
  }
  if (agreeing == 0) {
    return make_error(ErrorCategory::usage, "the captures do not agree with each other: present the same finger each time");
  }
  if (auto authenticated = card.authenticate_management(options.management_algorithm, options.management_key);
      !authenticated) {
    return authenticated.error();
  }
  if (auto written = card.write_finger_reference(reference, options.finger_position, captures[best].card_template);
      !written) {
    return written.error();
  }
  return EnrolmentResult{reference, static_cast<int>(captures[best].card_template.size()), captures[best].quality,
                         static_cast<int>(captures.size())};
}

}  // namespace sdbox::ctl
