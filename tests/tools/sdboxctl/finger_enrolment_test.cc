#include "finger_enrolment.hpp"

#include "card_state.hpp"
#include "local_transport.hpp"
#include "pattern_finger.hpp"
#include "piv_applet.hpp"
#include "temp_dir.hpp"
#include "test_card.hpp"

#include "sdbox/common/piv.hpp"

#include <gtest/gtest.h>

namespace sdbox::ctl {
namespace {

using firmware::PinCheck;

class FingerEnrolmentTest : public ::testing::Test {
 protected:
  FingerEnrolmentTest() : file_(dir_ / "card.json") {
    auto state = file_.load_or_create();
    EXPECT_TRUE(state);
    applet_ = std::make_unique<softcard::PivApplet>(std::move(*state),
                                                    [this](const softcard::CardState& next) { return file_.save(next); });
    transport_ = std::make_unique<softcard::LocalTransport>(*applet_);
    card_ = std::make_unique<firmware::PivClient>(*transport_);
    testing::personalise_test_card(*card_, dir_ / "ca");
    applet_->reset();
    options_.management_key = testing::default_management_key();
  }

  /// A sensor that presents `finger` (or the fingers listed, one per capture).
  std::function<Result<GrayImage>()> sensor(const std::vector<std::uint32_t>& fingers) {
    return [this, fingers]() -> Result<GrayImage> {
      const std::uint32_t capture = captures_++;
      const std::uint32_t finger = fingers[capture % fingers.size()];
      const double turn = 0.05 * static_cast<double>(capture % 3) - 0.05;
      return testing::pattern_finger(finger, 100 + capture, turn, 3.0 * static_cast<double>(capture % 2), -2.0);
    };
  }

  Result<PinCheck> present(std::uint8_t reference, std::uint32_t finger) {
    auto extraction = firmware::extract_minutiae(testing::pattern_finger(finger, 999, 0.1, -6, 5));
    EXPECT_TRUE(extraction);
    auto probe = finger::to_card_template(extraction->minutiae, {});
    EXPECT_TRUE(probe);
    return card_->verify_finger(reference, *probe);
  }

  testing::TempDir dir_;
  softcard::StateFile file_;
  std::unique_ptr<softcard::PivApplet> applet_;
  std::unique_ptr<softcard::LocalTransport> transport_;
  std::unique_ptr<firmware::PivClient> card_;
  EnrolmentOptions options_;
  std::uint32_t captures_ = 0;
};

TEST_F(FingerEnrolmentTest, EnrolsTheBestCaptureAndTheCardThenRecognisesTheFinger) {
  auto enrolled = enrol_finger(*card_, sensor({7}), options_);
  ASSERT_TRUE(enrolled) << enrolled.error().describe();
  EXPECT_EQ(enrolled->reference, piv::key::kFirstFinger);
  EXPECT_EQ(enrolled->captures_used, 4);
  EXPECT_GE(enrolled->minutiae, 12);
  applet_->reset();
  EXPECT_EQ(present(piv::key::kFirstFinger, 8)->outcome, PinCheck::Outcome::wrong) << "another finger";
  EXPECT_EQ(present(piv::key::kFirstFinger, 7)->outcome, PinCheck::Outcome::accepted);
}

TEST_F(FingerEnrolmentTest, TwoFingersAtMostAndReEnrollingReplaces) {
  ASSERT_TRUE(enrol_finger(*card_, sensor({7}), options_));
  options_.finger_position = finger::position::kLeft | finger::position::kIndex;
  auto second = enrol_finger(*card_, sensor({8}), options_);
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_EQ(second->reference, piv::key::kSecondFinger);
  options_.finger_position = finger::position::kRight | finger::position::kMiddle;
  auto third = enrol_finger(*card_, sensor({9}), options_);
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().message.find("two fingers"), std::string::npos);
  // The right index again: its reference is replaced, by another finger's images here.
  options_.finger_position = finger::position::kRight | finger::position::kIndex;
  auto again = enrol_finger(*card_, sensor({9}), options_);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->reference, piv::key::kFirstFinger);
  applet_->reset();
  EXPECT_EQ(present(piv::key::kFirstFinger, 9)->outcome, PinCheck::Outcome::accepted);
  EXPECT_EQ(present(piv::key::kSecondFinger, 8)->outcome, PinCheck::Outcome::accepted);
}

TEST_F(FingerEnrolmentTest, CapturesThatDisagreeOrHoldNoFingerAreRefusedAndTheCardIsUntouched) {
  auto mixed = enrol_finger(*card_, sensor({11, 12, 13, 14}), options_);
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message.find("do not agree"), std::string::npos) << mixed.error().message;
  auto blank = enrol_finger(*card_, [] { return Result<GrayImage>(GrayImage(300, 360, 500, 255)); }, options_);
  ASSERT_FALSE(blank);
  EXPECT_NE(blank.error().message.find("only 0 of 4"), std::string::npos) << blank.error().message;
  auto failing = enrol_finger(*card_, [] { return Result<GrayImage>(make_error(ErrorCategory::io, "sensor unplugged")); },
                              options_);
  ASSERT_FALSE(failing);
  EXPECT_EQ(failing.error().message, "sensor unplugged");
  EXPECT_TRUE(applet_->state().fingers.empty());
}

TEST_F(FingerEnrolmentTest, AWrongManagementKeyWritesNothing) {
  options_.management_key = Bytes(24, 0x33);
  EXPECT_FALSE(enrol_finger(*card_, sensor({7}), options_));
  EXPECT_TRUE(applet_->state().fingers.empty());
}

TEST(FingerNames, ParseBothWays) {
  EXPECT_EQ(*finger_position_from_name("right-index"), finger::position::kRight | finger::position::kIndex);
  EXPECT_EQ(*finger_position_from_name("left-little"), finger::position::kLeft | finger::position::kLittle);
  EXPECT_EQ(finger_position_name(finger::position::kLeft | finger::position::kThumb), "left-thumb");
  auto unknown = finger_position_from_name("right-toe");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().category, ErrorCategory::usage);
}

}  // namespace
}  // namespace sdbox::ctl
