// The three factors end to end through the real stacks: pcscd + vpcd + the softcard process for
// the card, libfprint's virtual_image driver for the finger.
#include "card/pcsc_card_reader.hpp"
#include "card/piv_client.hpp"
#include "card_stack.hpp"
#include "finger/fprint_sensor.hpp"
#include "finger/minutiae_extractor.hpp"
#include "finger_enrolment.hpp"
#include "pattern_finger.hpp"
#include "temp_dir.hpp"
#include "test_card.hpp"
#include "virtual_image_feeder.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <thread>

namespace sdbox::firmware {
namespace {

using testing::CardStack;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kHolder = 21;
constexpr std::uint32_t kSomeoneElse = 22;

class LoginFactorsTest : public ::testing::Test {
 protected:
  LoginFactorsTest() : stack_(CardStack::instance()), socket_(dir_ / "sensor.sock") {
    ::setenv("FP_VIRTUAL_IMAGE", socket_.c_str(), 1);
  }
  ~LoginFactorsTest() override { stack_.pull(); }

  /// One capture through libfprint while a "finger" showing `shown` touches the virtual sensor.
  Result<GrayImage> capture(FingerprintSensor& sensor, const GrayImage& shown) {
    std::optional<Result<GrayImage>> result;
    sensor.capture([&](Result<GrayImage> image) { result.emplace(std::move(image)); });
    std::thread finger([&] {
      auto feeder = fingerfeed::VirtualImageFeeder::connect(socket_, std::chrono::seconds(5));
      if (feeder) (void)feeder->send_image(shown);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    });
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!result && Clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
    finger.join();
    if (!result) return make_error(ErrorCategory::io, "no capture in 10 s");
    return std::move(*result);
  }

  std::vector<finger::CompactMinutia> probe(const GrayImage& image) {
    auto extraction = extract_minutiae(image);
    EXPECT_TRUE(extraction);
    auto compact = finger::to_card_template(extraction->minutiae, {});
    EXPECT_TRUE(compact) << compact.error().describe();
    return compact ? *compact : std::vector<finger::CompactMinutia>{};
  }

  std::unique_ptr<PcscCardReader> reader() { return PcscCardReader::create({io_.get_executor(), cardlab::kReaderName}); }

  testing::TempDir dir_;
  CardStack& stack_;
  std::filesystem::path socket_;
  boost::asio::io_context io_;
};

TEST_F(LoginFactorsTest, PinThenFingerThenTheCardSignsAndWithoutTheFingerItRefuses) {
  stack_.insert(dir_ / "card.json");
  ASSERT_TRUE(reader()->wait_for_card(true, std::chrono::seconds(5)));
  auto sensor = FprintSensor::create({io_.get_executor(), 500});
  ASSERT_TRUE(sensor) << sensor.error().describe();

  Bytes certificate;
  {  // Enrolment station: personalise, then enrol the right index from four captures.
    auto channel = reader()->connect();
    ASSERT_TRUE(channel);
    PivClient card(**channel);
    ASSERT_TRUE(card.select());
    certificate = testing::personalise_test_card(card, dir_ / "ca");
    ctl::EnrolmentOptions options;
    options.management_key = testing::default_management_key();
    std::uint32_t impression = 0;
    auto enrolled = ctl::enrol_finger(
        card,
        [&] {
          const double turn = 0.04 * static_cast<double>(impression % 3);
          return capture(**sensor, testing::pattern_finger(kHolder, impression++, turn, 2.0, -3.0));
        },
        options);
    ASSERT_TRUE(enrolled) << enrolled.error().describe();
    EXPECT_EQ(enrolled->reference, piv::key::kFirstFinger);
  }

  // The box: a new connection (the card was reset when the station let go).
  auto channel = reader()->connect();
  ASSERT_TRUE(channel);
  PivClient card(**channel);
  ASSERT_TRUE(card.select());
  const Bytes digest = crypto::sha256(bytes_of("challenge | exporter | box | project"));
  ASSERT_EQ(card.verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  auto pin_only = card.sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
  ASSERT_FALSE(pin_only) << "PIN alone must not sign once a finger is enrolled";
  EXPECT_EQ(pin_only.error().code, 0x6982);

  auto impostor_image = capture(**sensor, testing::pattern_finger(kSomeoneElse, 50, 0.1, -4, 4));
  ASSERT_TRUE(impostor_image) << impostor_image.error().describe();
  auto impostor = card.verify_finger(piv::key::kFirstFinger, probe(*impostor_image));
  ASSERT_TRUE(impostor);
  EXPECT_EQ(impostor->outcome, PinCheck::Outcome::wrong);
  EXPECT_EQ(impostor->tries_left, 4);
  EXPECT_FALSE(card.sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest)) << "a wrong finger grants nothing";

  auto holder_image = capture(**sensor, testing::pattern_finger(kHolder, 60, -0.08, 5, 2));
  ASSERT_TRUE(holder_image) << holder_image.error().describe();
  auto genuine = card.verify_finger(piv::key::kFirstFinger, probe(*holder_image));
  ASSERT_TRUE(genuine);
  EXPECT_EQ(genuine->outcome, PinCheck::Outcome::accepted);
  auto signature = card.sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
  ASSERT_TRUE(signature) << signature.error().describe();
  auto parsed = crypto::certificate_from_der(certificate);
  ASSERT_TRUE(parsed);
  auto key = crypto::certificate_public_key(**parsed);
  ASSERT_TRUE(key);
  EXPECT_TRUE(*crypto::ecdsa_verify_digest(**key, digest, *signature));
}

}  // namespace
}  // namespace sdbox::firmware
