#include "card_personalisation.hpp"

#include "card_state.hpp"
#include "local_transport.hpp"
#include "piv_applet.hpp"
#include "temp_dir.hpp"
#include "test_card.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <iterator>

namespace sdbox::ctl {
namespace {

using testing::TempDir;

using testing::read_file;

class CardPersonalisationTest : public ::testing::Test {
 protected:
  CardPersonalisationTest() : file_(dir_ / "card.json") {
    auto state = file_.load_or_create();
    EXPECT_TRUE(state);
    applet_ = std::make_unique<softcard::PivApplet>(std::move(*state),
                                                    [this](const softcard::CardState& next) { return file_.save(next); });
    transport_ = std::make_unique<softcard::LocalTransport>(*applet_);
    card_ = std::make_unique<firmware::PivClient>(*transport_);
    EXPECT_TRUE(create_ca(ca_, "Personalisation CA", std::chrono::hours(24 * 30)).ok());
    profile_.holder_name = "Grace Hopper";
    profile_.new_pin = "314159";
    profile_.new_puk = "27182818";
    profile_.management_key = testing::default_management_key();
  }

  CertificateIssuer ca_issuer() {
    auto issuer = issuer_from_ca(ca_);
    EXPECT_TRUE(issuer) << issuer.error().describe();
    return issuer ? *issuer : CertificateIssuer();
  }

  TempDir dir_;
  softcard::StateFile file_;
  CaDirectory ca_{dir_ / "ca"};
  CardProfile profile_;
  std::unique_ptr<softcard::PivApplet> applet_;
  std::unique_ptr<softcard::LocalTransport> transport_;
  std::unique_ptr<firmware::PivClient> card_;
};

TEST_F(CardPersonalisationTest, WritesAKeyOnTheCardACertificateFromTheCaAndTheNewCodes) {
  auto done = personalise_card(*card_, ca_issuer(), profile_);
  ASSERT_TRUE(done) << done.error().describe();
  EXPECT_NE(done->subject.find("CN=Grace Hopper"), std::string::npos);
  auto certificate = crypto::certificate_from_der(done->certificate_der);
  ASSERT_TRUE(certificate);
  auto ca_certificate = crypto::certificate_from_pem_file(ca_.certificate());
  ASSERT_TRUE(ca_certificate);
  auto ca_key = crypto::certificate_public_key(**ca_certificate);
  ASSERT_TRUE(ca_key);
  EXPECT_EQ(X509_verify(certificate->get(), ca_key->get()), 1) << "signed by the CA";
  // The certified key is the one generated on the card.
  auto certified = crypto::certificate_public_key(**certificate);
  auto on_card = crypto::private_key_from_der(applet_->state().keys.at(piv::key::kAuthentication).private_key_der);
  ASSERT_TRUE(certified && on_card);
  EXPECT_EQ(EVP_PKEY_eq(certified->get(), on_card->get()), 1);
  applet_->reset();
  EXPECT_EQ(card_->verify_pin("123456")->outcome, firmware::PinCheck::Outcome::wrong) << "factory PIN replaced";
  EXPECT_EQ(card_->verify_pin("314159")->outcome, firmware::PinCheck::Outcome::accepted);
  EXPECT_EQ(card_->unblock_pin("27182818", "314159")->outcome, firmware::PinCheck::Outcome::accepted);
}

TEST_F(CardPersonalisationTest, ANewManagementKeyReplacesTheDefault) {
  profile_.new_management_key = Bytes(24, 0x5A);
  ASSERT_TRUE(personalise_card(*card_, ca_issuer(), profile_));
  applet_->reset();
  EXPECT_FALSE(card_->authenticate_management(piv::alg::kTripleDes, testing::default_management_key()).ok());
  EXPECT_TRUE(card_->authenticate_management(piv::alg::kTripleDes, Bytes(24, 0x5A)).ok());
}

TEST_F(CardPersonalisationTest, BadInputIsRefusedBeforeTheCardIsTouched) {
  const std::string before = read_file(file_.path());
  CardProfile bad_pin = profile_;
  bad_pin.new_pin = "12ab56";
  const auto issuer = ca_issuer();
  auto refused = personalise_card(*card_, issuer, bad_pin);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().category, ErrorCategory::usage);

  CardProfile short_puk = profile_;
  short_puk.new_puk = "123";
  EXPECT_FALSE(personalise_card(*card_, issuer, short_puk));

  CardProfile no_name = profile_;
  no_name.holder_name.clear();
  EXPECT_FALSE(personalise_card(*card_, issuer, no_name));

  const CaDirectory missing{dir_ / "no-such-ca"};
  EXPECT_FALSE(issuer_from_ca(missing));

  // A CA whose key does not match its certificate.
  const CaDirectory other{dir_ / "other"};
  ASSERT_TRUE(create_ca(other, "Other", std::chrono::hours(24)).ok());
  std::filesystem::copy_file(other.key(), ca_.key(), std::filesystem::copy_options::overwrite_existing);
  auto mismatched = issuer_from_ca(ca_);
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.error().category, ErrorCategory::crypto);

  EXPECT_EQ(read_file(file_.path()), before) << "nothing reached the card";
}

TEST_F(CardPersonalisationTest, AWrongManagementKeyStopsBeforeAnyKeyIsGenerated) {
  profile_.management_key = Bytes(24, 0x11);
  auto refused = personalise_card(*card_, ca_issuer(), profile_);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(applet_->state().keys.empty());
  EXPECT_EQ(applet_->state().objects.count(piv::object::kCertAuthentication), 0u);
}

TEST_F(CardPersonalisationTest, TheIssuerCertifiesTheKeyGeneratedOnTheCard) {
  // What the broker does remotely: certify the public key it is given, with the profile's name.
  std::optional<Bytes> certified_point;
  auto local = ca_issuer();
  const CertificateIssuer recording = [&](const EVP_PKEY& card_public_key, const CardProfile& profile) {
    auto point = crypto::ec_public_point(card_public_key);
    if (point) certified_point = *point;
    return local(card_public_key, profile);
  };
  ASSERT_TRUE(personalise_card(*card_, recording, profile_));
  auto on_card = crypto::private_key_from_der(applet_->state().keys.at(piv::key::kAuthentication).private_key_der);
  ASSERT_TRUE(on_card && certified_point);
  EXPECT_EQ(*certified_point, *crypto::ec_public_point(**on_card));
}

TEST_F(CardPersonalisationTest, ARefusingIssuerLeavesNoCertificateAndTheFactoryCodes) {
  const CertificateIssuer refusing = [](const EVP_PKEY&, const CardProfile&) -> Result<crypto::Certificate> {
    return make_error(ErrorCategory::broker, "no user 'alice'");
  };
  auto refused = personalise_card(*card_, refusing, profile_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "no user 'alice'");
  EXPECT_EQ(applet_->state().objects.count(piv::object::kCertAuthentication), 0u);
  applet_->reset();
  EXPECT_EQ(card_->verify_pin("123456")->outcome, firmware::PinCheck::Outcome::accepted) << "PIN untouched";
}

TEST_F(CardPersonalisationTest, ACertificateForAnotherKeyIsRefused) {
  auto local = ca_issuer();
  const CertificateIssuer wrong_key = [&](const EVP_PKEY&, const CardProfile& profile) -> Result<crypto::Certificate> {
    auto other = crypto::generate_ec_p256();
    if (!other) return other.error();
    return local(**other, profile);
  };
  auto refused = personalise_card(*card_, wrong_key, profile_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().category, ErrorCategory::crypto);
  EXPECT_EQ(applet_->state().objects.count(piv::object::kCertAuthentication), 0u);
}

TEST_F(CardPersonalisationTest, ACaIsNeverOverwritten) {
  const std::string key = read_file(ca_.key());
  auto again = create_ca(ca_, "Replacement", std::chrono::hours(24));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("not overwriting"), std::string::npos);
  EXPECT_EQ(read_file(ca_.key()), key);
  EXPECT_EQ(std::filesystem::status(ca_.key()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace
}  // namespace sdbox::ctl
