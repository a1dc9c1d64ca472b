// On-card comparison in the softcard: fingers as a third factor, verified by the card.
#include "card_state.hpp"
#include "local_transport.hpp"
#include "piv_applet.hpp"
#include "synthetic_minutiae.hpp"
#include "temp_dir.hpp"
#include "test_card.hpp"

#include "card/piv_client.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"
#include "sdbox/common/tlv.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace sdbox::softcard {
namespace {

using firmware::PinCheck;
using testing::card_template;
using testing::hex;
using testing::impression;
using testing::random_finger;

using testing::read_file;

constexpr std::uint8_t kRightIndex = finger::position::kRight | finger::position::kIndex;
constexpr std::uint8_t kLeftIndex = finger::position::kLeft | finger::position::kIndex;

class OnCardComparisonTest : public ::testing::Test {
 protected:
  OnCardComparisonTest() : file_(dir_ / "card.json"), random_(1234) {
    auto state = file_.load_or_create();
    EXPECT_TRUE(state);
    applet_ = std::make_unique<PivApplet>(std::move(*state), [this](const CardState& next) { return file_.save(next); });
    transport_ = std::make_unique<LocalTransport>(*applet_);
    card_ = std::make_unique<firmware::PivClient>(*transport_);
    certificate_ = testing::personalise_test_card(*card_, dir_ / "ca");
    applet_->reset();  // the enrolment station's management session ends with the card's power
    finger_ = random_finger(random_);
    other_finger_ = random_finger(random_);
  }

  void enrol(std::uint8_t reference, std::uint8_t position, const std::vector<finger::Minutia>& finger) {
    ASSERT_TRUE(card_->authenticate_management(piv::alg::kTripleDes, testing::default_management_key()).ok());
    auto written = card_->write_finger_reference(reference, position, card_template(impression(finger, random_)));
    ASSERT_TRUE(written) << written.error().describe();
    applet_->reset();
  }

  apdu::Response send(std::string_view command) { return *apdu::Response::parse(applet_->process(hex(command))); }

  Result<Bytes> sign() {
    return card_->sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, crypto::sha256(bytes_of("login")));
  }

  testing::TempDir dir_;
  StateFile file_;
  std::mt19937 random_;
  std::unique_ptr<PivApplet> applet_;
  std::unique_ptr<LocalTransport> transport_;
  std::unique_ptr<firmware::PivClient> card_;
  Bytes certificate_;
  std::vector<finger::Minutia> finger_, other_finger_;
};

TEST_F(OnCardComparisonTest, TheHoldersFingerIsAcceptedAndAnotherFingerIsNot) {
  enrol(piv::key::kFirstFinger, kRightIndex, finger_);
  auto impostor = card_->verify_finger(piv::key::kFirstFinger, card_template(impression(other_finger_, random_)));
  ASSERT_TRUE(impostor);
  EXPECT_EQ(impostor->outcome, PinCheck::Outcome::wrong);
  EXPECT_EQ(impostor->tries_left, 4);
  auto genuine = card_->verify_finger(piv::key::kFirstFinger, card_template(impression(finger_, random_)));
  ASSERT_TRUE(genuine);
  EXPECT_EQ(genuine->outcome, PinCheck::Outcome::accepted);
  auto status = card_->finger_status(piv::key::kFirstFinger);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->verified);
  EXPECT_EQ(send("00200096").sw, 0x9000);
  applet_->reset();
  EXPECT_EQ(send("00200096").sw, 0x63C5) << "a match resets the counter; a reset forgets the verification";
}

TEST_F(OnCardComparisonTest, FiveWrongFingersBlockComparison) {
  enrol(piv::key::kFirstFinger, kRightIndex, finger_);
  for (int expected = 4; expected >= 1; --expected) {
    auto check = card_->verify_finger(piv::key::kFirstFinger, card_template(impression(other_finger_, random_)));
    ASSERT_TRUE(check);
    EXPECT_EQ(check->tries_left, expected);
  }
  auto last = card_->verify_finger(piv::key::kFirstFinger, card_template(impression(other_finger_, random_)));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->outcome, PinCheck::Outcome::blocked);
  auto genuine = card_->verify_finger(piv::key::kFirstFinger, card_template(impression(finger_, random_)));
  ASSERT_TRUE(genuine);
  EXPECT_EQ(genuine->outcome, PinCheck::Outcome::blocked) << "the right finger cannot unblock";
  EXPECT_EQ(send("00200096").sw, 0x6983);
}

TEST_F(OnCardComparisonTest, TheLoginKeyNeedsPinAndFingerOnceAFingerIsEnrolled) {
  ASSERT_EQ(card_->verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  EXPECT_TRUE(sign()) << "no finger enrolled: the PIN is enough";
  enrol(piv::key::kFirstFinger, kRightIndex, finger_);
  ASSERT_EQ(card_->verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  auto pin_only = sign();
  ASSERT_FALSE(pin_only);
  EXPECT_EQ(pin_only.error().code, 0x6982);
  applet_->reset();
  ASSERT_EQ(card_->verify_finger(piv::key::kFirstFinger, card_template(impression(finger_, random_)))->outcome,
            PinCheck::Outcome::accepted);
  EXPECT_FALSE(sign()) << "finger without PIN is refused too";
  ASSERT_EQ(card_->verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  auto signature = sign();
  ASSERT_TRUE(signature) << signature.error().describe();
  auto discovery = card_->read_object(piv::object::kDiscovery);
  ASSERT_TRUE(discovery);
  auto policy = tlv::find(*discovery, piv::tag::kPinUsagePolicy);
  ASSERT_TRUE(policy && *policy);
  EXPECT_EQ(to_hex(**policy), "5000") << "the discovery object advertises on-card comparison";
}

TEST_F(OnCardComparisonTest, ReferencesAreWrittenOnlyUnderTheManagementKeyAndNeverReadBack) {
  const auto reference = card_template(impression(finger_, random_));
  auto refused = card_->write_finger_reference(piv::key::kFirstFinger, kRightIndex, reference);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, 0x6982);
  ASSERT_TRUE(card_->authenticate_management(piv::alg::kTripleDes, testing::default_management_key()).ok());
  ASSERT_TRUE(card_->write_finger_reference(piv::key::kFirstFinger, kRightIndex, reference));
  ASSERT_EQ(card_->verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  // Every readable object and every instruction: no 12-byte run of the reference ever comes out.
  const std::string secret = to_hex(ByteView(finger::encode_compact(reference)).subspan(6, 12));
  for (std::uint32_t tag : {0x7Eu, 0x7F61u}) {
    auto response = apdu::exchange(*transport_, {0x00, 0xCB, 0x3F, 0xFF, tlv::encode(0x5C, tlv::encode_tag(tag)), 256});
    ASSERT_TRUE(response);
    EXPECT_EQ(to_hex(response->data).find(secret), std::string::npos);
  }
  for (std::uint32_t tag = 0x5FC100; tag <= 0x5FC1FF; ++tag) {
    auto response = apdu::exchange(*transport_, {0x00, 0xCB, 0x3F, 0xFF, tlv::encode(0x5C, tlv::encode_tag(tag)), 256});
    ASSERT_TRUE(response);
    EXPECT_EQ(to_hex(response->data).find(secret), std::string::npos);
  }
  for (int ins = 0; ins <= 0xFF; ++ins) {
    for (std::uint8_t p2 : {std::uint8_t{0x96}, std::uint8_t{0x97}, std::uint8_t{0x00}}) {
      for (std::uint8_t p1 : {std::uint8_t{0x00}, std::uint8_t{0x01}, std::uint8_t{0x3F}}) {
        const Bytes response = applet_->process(Bytes{0x00, static_cast<std::uint8_t>(ins), p1, p2, 0x00});
        EXPECT_EQ(to_hex(response).find(secret), std::string::npos) << ins;
      }
    }
  }
  auto bits = card_->finger_references();
  ASSERT_TRUE(bits) << bits.error().describe();
  ASSERT_EQ(bits->size(), 1u);
  EXPECT_EQ((*bits)[0].key_reference, piv::key::kFirstFinger);
  EXPECT_EQ((*bits)[0].finger_position, kRightIndex);
  EXPECT_EQ((*bits)[0].min_minutiae, 12);
}

TEST_F(OnCardComparisonTest, AtMostTwoFingersAndEachOnlyOnce) {
  enrol(piv::key::kFirstFinger, kRightIndex, finger_);
  ASSERT_TRUE(card_->authenticate_management(piv::alg::kTripleDes, testing::default_management_key()).ok());
  auto same_finger = card_->write_finger_reference(piv::key::kSecondFinger, kRightIndex,
                                                   card_template(impression(finger_, random_)));
  ASSERT_FALSE(same_finger);
  EXPECT_EQ(same_finger.error().code, 0x6985);
  ASSERT_TRUE(card_->write_finger_reference(piv::key::kSecondFinger, kLeftIndex,
                                            card_template(impression(other_finger_, random_))));
  auto third = card_->write_finger_reference(0x98, finger::position::kRight | finger::position::kMiddle,
                                             card_template(impression(finger_, random_)));
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, 0x6A86) << "there is no third reference";
  auto bits = card_->finger_references();
  ASSERT_TRUE(bits);
  EXPECT_EQ(bits->size(), 2u);
  applet_->reset();
  EXPECT_EQ(card_->verify_finger(piv::key::kSecondFinger, card_template(impression(other_finger_, random_)))->outcome,
            PinCheck::Outcome::accepted);
}

TEST_F(OnCardComparisonTest, MalformedFingerVerifiesCostNoTryAndChangeNothing) {
  enrol(piv::key::kFirstFinger, kRightIndex, finger_);
  const std::string before = read_file(file_.path());
  for (const std::string& apdu : {
           std::string("0020009605 7f2e02 8100"),                 // no minutiae
           std::string("0020009606 7f2e03 810201"),               // not a multiple of three
           std::string("0020009606 7f2e03 8201 aa"),              // wrong inner tag
           std::string("0020009605 7f2e03 8103"),                 // truncated
           std::string("0020009611 7f2e0f 810c") + std::string(24, '1'),  // only four minutiae
           std::string("0020009608 7f2e05 8103 0a14c0"),          // reserved type
           std::string("0020009807 7f2e04 8102 0a14"),            // no such reference
       }) {
    EXPECT_NE(send(apdu).sw, 0x9000) << apdu;
  }
  EXPECT_EQ(read_file(file_.path()), before);
  EXPECT_EQ(send("00200096").sw, 0x63C5);
}

}  // namespace
}  // namespace sdbox::softcard
