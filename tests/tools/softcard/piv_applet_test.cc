#include "piv_applet.hpp"

#include "local_transport.hpp"
#include "card/piv_client.hpp"
#include "temp_dir.hpp"
#include "test_card.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"
#include "sdbox/common/tlv.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <fstream>
#include <iterator>

namespace sdbox::softcard {
namespace {

using firmware::PinCheck;
using testing::default_management_key;
using testing::hex;
using testing::TempDir;

using testing::read_file;

class PivAppletTest : public ::testing::Test {
 protected:
  PivAppletTest() : file_(dir_ / "card.json") { load(); }

  void load() {
    auto state = file_.load_or_create();
    ASSERT_TRUE(state) << state.error().describe();
    applet_ = std::make_unique<PivApplet>(std::move(*state), [this](const CardState& next) { return file_.save(next); });
    transport_ = std::make_unique<LocalTransport>(*applet_);
    client_ = std::make_unique<firmware::PivClient>(*transport_);
  }

  apdu::Response send(std::string_view command) {
    auto response = apdu::Response::parse(applet_->process(hex(command)));
    EXPECT_TRUE(response);
    return *response;
  }

  /// What an enrolment station does: key on card, certificate from a fresh CA, PIN, PUK.
  Bytes personalise() {
    Bytes certificate = testing::personalise_test_card(*client_, dir_ / "ca", {"Test Researcher", "24681357", "11223344"});
    applet_->reset();
    return certificate;
  }

  TempDir dir_;
  StateFile file_;
  std::unique_ptr<PivApplet> applet_;
  std::unique_ptr<LocalTransport> transport_;
  std::unique_ptr<firmware::PivClient> client_;
};

TEST_F(PivAppletTest, SelectAnswersWithTheApplicationPropertyTemplate) {
  auto full = send("00a404000ba000000308000010000100 00");
  ASSERT_EQ(full.sw, 0x9000);
  auto apt = tlv::expect_single(full.data, piv::tag::kApplicationPropertyTemplate);
  ASSERT_TRUE(apt);
  auto pix = tlv::find(*apt, piv::tag::kAid);
  ASSERT_TRUE(pix && *pix);
  EXPECT_EQ(to_hex(**pix), "000010000100");
  auto algorithms = tlv::find(*apt, piv::tag::kAlgorithms);
  ASSERT_TRUE(algorithms && *algorithms);
  EXPECT_NE(to_hex(**algorithms).find("800111"), std::string::npos) << "P-256 must be advertised";

  EXPECT_EQ(send("00a4040009a00000030800001000 00").sw, 0x9000) << "right-truncated AID";
  EXPECT_EQ(send("00a4040005a000000308 00").sw, 0x9000) << "RID";
  EXPECT_EQ(send("00a4040005a000000309 00").sw, 0x6A82) << "other application";
  EXPECT_EQ(send("00a4020005a000000308 00").sw, 0x6A86) << "select by file id";
}

TEST_F(PivAppletTest, GetDataServesDiscoveryAndChuidAndReportsMissingObjects) {
  auto discovery = send("00cb3fff 03 5c017e 00");
  ASSERT_EQ(discovery.sw, 0x9000);
  auto inner = tlv::expect_single(discovery.data, piv::object::kDiscovery);
  ASSERT_TRUE(inner);
  auto policy = tlv::find(*inner, piv::tag::kPinUsagePolicy);
  ASSERT_TRUE(policy && *policy);
  EXPECT_EQ(to_hex(**policy), "4000");

  auto chuid = client_->read_object(piv::object::kChuid);
  ASSERT_TRUE(chuid) << chuid.error().describe();
  auto guid = tlv::find(*chuid, 0x34);
  ASSERT_TRUE(guid && *guid);
  EXPECT_EQ((*guid)->size(), 16u);

  auto missing = client_->read_certificate(piv::key::kAuthentication);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, 0x6A82);
  EXPECT_EQ(send("00cb3fff 05 5c035fc1ff 00").sw, 0x6A82);
  EXPECT_EQ(send("00cb3f00 05 5c035fc102 00").sw, 0x6A86);
}

TEST_F(PivAppletTest, ThreeWrongPinsBlockTheCardAndThePukUnblocksIt) {
  auto first = client_->verify_pin("000000");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->outcome, PinCheck::Outcome::wrong);
  EXPECT_EQ(first->tries_left, 2);
  EXPECT_EQ(send("00200080 08 3030303030303030").sw, 0x63C1);
  EXPECT_EQ(send("00200080 08 3030303030303030").sw, 0x6983);
  auto blocked = client_->verify_pin("123456");
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->outcome, PinCheck::Outcome::blocked) << "the right PIN cannot unblock";
  EXPECT_EQ(send("00200080").sw, 0x6983);

  auto wrong_puk = client_->unblock_pin("87654321", "654321");
  ASSERT_TRUE(wrong_puk);
  EXPECT_EQ(wrong_puk->outcome, PinCheck::Outcome::wrong);
  EXPECT_EQ(wrong_puk->tries_left, 2);
  auto unblocked = client_->unblock_pin("12345678", "654321");
  ASSERT_TRUE(unblocked);
  EXPECT_EQ(unblocked->outcome, PinCheck::Outcome::accepted);
  EXPECT_EQ(send("00200080").sw, 0x63C3) << "tries restored, PIN not yet verified";
  auto verified = client_->verify_pin("654321");
  ASSERT_TRUE(verified);
  EXPECT_EQ(verified->outcome, PinCheck::Outcome::accepted);
  EXPECT_EQ(send("00200080").sw, 0x9000);
}

TEST_F(PivAppletTest, ThreeWrongPuksBlockThePukForGood) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client_->unblock_pin("00000000", "654321"));
  auto blocked = client_->unblock_pin("12345678", "654321");
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->outcome, PinCheck::Outcome::blocked);
}

TEST_F(PivAppletTest, EmptyVerifyReportsThePinStateAndP1FFForgetsIt) {
  EXPECT_EQ(send("00200080").sw, 0x63C3);
  ASSERT_EQ(client_->verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  EXPECT_EQ(send("00200080").sw, 0x9000);
  EXPECT_EQ(send("0020ff80").sw, 0x9000);
  EXPECT_EQ(send("00200080").sw, 0x63C3);
  ASSERT_EQ(client_->verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  applet_->reset();  // power cycle
  EXPECT_EQ(send("00200080").sw, 0x63C3) << "verification does not survive a reset";
}

TEST_F(PivAppletTest, ChangeReferenceDataReplacesThePin) {
  auto wrong = client_->change_pin("111111", "222222");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->outcome, PinCheck::Outcome::wrong);
  auto changed = client_->change_pin("123456", "222222");
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->outcome, PinCheck::Outcome::accepted);
  applet_->reset();
  EXPECT_EQ(client_->verify_pin("123456")->outcome, PinCheck::Outcome::wrong);
  EXPECT_EQ(client_->verify_pin("222222")->outcome, PinCheck::Outcome::accepted);
}

TEST_F(PivAppletTest, GeneralAuthenticateBeforeThePinIsRefused) {
  personalise();
  const Bytes digest = crypto::sha256(bytes_of("challenge"));
  auto refused = client_->sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, 0x6982);
  ASSERT_EQ(client_->verify_pin("24681357")->outcome, PinCheck::Outcome::accepted);
  EXPECT_TRUE(client_->sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest));
}

TEST_F(PivAppletTest, SignatureVerifiesWithOpenSslAgainstTheCardCertificate) {
  const Bytes certificate_der = personalise();
  ASSERT_EQ(client_->verify_pin("24681357")->outcome, PinCheck::Outcome::accepted);
  const Bytes digest = crypto::sha256(bytes_of("login challenge"));
  auto signature = client_->sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
  ASSERT_TRUE(signature) << signature.error().describe();
  auto from_card = client_->read_certificate(piv::key::kAuthentication);
  ASSERT_TRUE(from_card);
  EXPECT_EQ(*from_card, certificate_der);
  auto certificate = crypto::certificate_from_der(*from_card);
  ASSERT_TRUE(certificate);
  auto key = crypto::certificate_public_key(**certificate);
  ASSERT_TRUE(key);
  EXPECT_TRUE(*crypto::ecdsa_verify_digest(**key, digest, *signature));
  const Bytes other = crypto::sha256(bytes_of("another challenge"));
  EXPECT_FALSE(*crypto::ecdsa_verify_digest(**key, other, *signature));
}

TEST_F(PivAppletTest, KeyGenerationAndPutDataNeedTheManagementKey) {
  EXPECT_EQ(send("0047009a 05 ac03800111 00").sw, 0x6982);
  EXPECT_EQ(send("00db3fff 0a 5c035fc102 5303340100").sw, 0x6982);
  Bytes wrong_key(24, 0x42);
  EXPECT_FALSE(client_->authenticate_management(piv::alg::kTripleDes, wrong_key).ok());
  EXPECT_EQ(send("0047009a 05 ac03800111 00").sw, 0x6982) << "a failed authentication grants nothing";
  ASSERT_TRUE(client_->authenticate_management(piv::alg::kTripleDes, default_management_key()).ok());
  auto point = client_->generate_key(piv::key::kAuthentication, piv::alg::kEccP256);
  ASSERT_TRUE(point) << point.error().describe();
  EXPECT_EQ(point->size(), 65u);
  EXPECT_TRUE(crypto::ec_public_key_from_point(*point));
  EXPECT_EQ(send("0047009a 05 ac03800107 00").sw, 0x6A80) << "RSA is not offered";
}

TEST_F(PivAppletTest, ThePrivateKeyCannotBeReadByAnyApdu) {
  personalise();
  auto key = crypto::private_key_from_der(applet_->state().keys.at(piv::key::kAuthentication).private_key_der);
  ASSERT_TRUE(key);
  BIGNUM* scalar = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(key->get(), OSSL_PKEY_PARAM_PRIV_KEY, &scalar), 1);
  Bytes scalar_bytes(32);
  ASSERT_EQ(BN_bn2binpad(scalar, scalar_bytes.data(), 32), 32);
  BN_free(scalar);
  // Any 12-byte window of the private scalar showing up in a response would be a leak.
  const std::string secret = to_hex(ByteView(scalar_bytes).subspan(10, 12));
  ASSERT_TRUE(client_->authenticate_management(piv::alg::kTripleDes, default_management_key()).ok());
  ASSERT_EQ(client_->verify_pin("24681357")->outcome, PinCheck::Outcome::accepted);
  std::size_t answered = 0;
  for (std::uint32_t tag = 0x5FC100; tag <= 0x5FC1FF; ++tag) {
    auto response = apdu::exchange(*transport_, {0x00, 0xCB, 0x3F, 0xFF, tlv::encode(0x5C, tlv::encode_tag(tag)), 256});
    ASSERT_TRUE(response);
    if (response->ok()) ++answered;
    EXPECT_EQ(to_hex(response->data).find(secret), std::string::npos) << std::hex << tag;
  }
  EXPECT_GE(answered, 2u) << "CHUID and certificate are readable";
  for (std::uint8_t ins = 0; ins < 0xFF; ++ins) {
    if (ins == piv::ins::kPutData || ins == piv::ins::kGenerateKeyPair || ins == piv::ins::kSetManagementKey ||
        ins == piv::ins::kVerify || ins == piv::ins::kChangeReferenceData || ins == piv::ins::kResetRetryCounter) {
      continue;  // state-changing commands are covered elsewhere
    }
    for (std::uint8_t p2 : {std::uint8_t{0x00}, piv::key::kAuthentication}) {
      const Bytes response = applet_->process(Bytes{0x00, ins, 0x00, p2, 0x00});
      EXPECT_EQ(to_hex(response).find(secret), std::string::npos) << std::hex << int(ins);
    }
  }
}

TEST_F(PivAppletTest, MalformedCommandsGetIsoStatusWordsAndLeaveTheStateFileByteIdentical) {
  personalise();
  ASSERT_TRUE(client_->authenticate_management(piv::alg::kTripleDes, default_management_key()).ok());
  const std::string before = read_file(file_.path());
  struct Case {
    const char* apdu;
    std::uint16_t sw;
  };
  const Case cases[] = {
      {"00", 0x6700},                                 // shorter than a header
      {"00cb3fff05aabb", 0x6700},                     // Lc larger than the data
      {"00cb3fff0000", 0x6700},                       // truncated extended length
      {"80cb3fff035c017e00", 0x6E00},                 // proprietary class
      {"00ee000000", 0x6D00},                         // unknown instruction
      {"00cb3f00035c017e00", 0x6A86},                 // wrong P1/P2 for GET DATA
      {"00cb3fff055c017eaabb00", 0x6A80},             // tag list with trailing junk
      {"00200080043132333400", 0x6700},               // VERIFY with 4 bytes
      {"0020008008313233ffff34353600", 0x6A80},       // VERIFY with a badly padded PIN
      {"0020008108313233343536373800", 0x6A88},       // VERIFY of the PUK reference
      {"0020010008313233343536ffff", 0x6A86},         // VERIFY with P1 = 01
      {"002400800831323334353637ff", 0x6700},         // CHANGE REFERENCE DATA too short
      {"002c0080103132333435363738313233ff353637ff", 0x6A80},  // RESET RETRY COUNTER bad new PIN
      {"0047019a05ac03800111", 0x6A86},               // GENERATE with P1 = 01
      {"0047009b05ac03800111", 0x6A86},               // GENERATE in the management key slot
      {"0047009a03ac0180", 0x6A80},                   // GENERATE with a truncated template
      {"00db3fff065c017e530100", 0x6A80},             // PUT DATA to the discovery object
      {"00db3fff0c5c035fc1055305700301020300", 0x6A80},  // PUT DATA of a certificate that is not one
      {"00db3fff075c035fc1025380", 0x6A80},           // PUT DATA with an indefinite length
      {"00db3f0008 5c035fc102530100", 0x6A86},        // PUT DATA wrong P2
      {"0087119a047c02820000", 0x6A80},               // GENERAL AUTHENTICATE without a challenge
      {"0087119a0a7c088200810431323334", 0x6A80},     // challenge that is not a digest size
      {"0087039b027c00", 0x6A80},                     // empty authentication template
      {"0087089b047c02800000", 0x6A86},               // AES when the key is 3DES
      {"00ffffff0403 9b 01 aa", 0x6A80},              // SET MANAGEMENT KEY with a short key
      {"00c0000010", 0x6985},                         // GET RESPONSE with nothing pending
  };
  for (const Case& c : cases) {
    EXPECT_EQ(send(c.apdu).sw, c.sw) << c.apdu;
  }
  EXPECT_EQ(read_file(file_.path()), before);
  auto reloaded = file_.load();
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->pin.tries_left, 3) << "no malformed VERIFY may cost a try";
}

TEST_F(PivAppletTest, LongResponsesAreChainedWith61xxAndLongCommandsWithClaChaining) {
  personalise();
  auto first = send("00cb3fff055c035fc10500");
  ASSERT_EQ(first.sw1(), 0x61) << "a certificate does not fit in 256 bytes";
  EXPECT_EQ(first.data.size(), 256u);
  auto whole = apdu::exchange(*transport_, {0x00, 0xCB, 0x3F, 0xFF, hex("5c035fc105"), 256});
  ASSERT_TRUE(whole);
  ASSERT_TRUE(whole->ok());
  auto extended = apdu::exchange(*transport_, {0x00, 0xCB, 0x3F, 0xFF, hex("5c035fc105"), 65536}, apdu::Form::extended);
  ASSERT_TRUE(extended);
  EXPECT_EQ(extended->sw, 0x9000);
  EXPECT_EQ(extended->data, whole->data) << "extended and chained reads agree";

  // A chain interrupted by another instruction is refused and forgotten.
  EXPECT_EQ(send("10db3fff035c035f").sw, 0x9000);
  EXPECT_EQ(send("00cb3fff035c017e00").sw, 0x6883);
}

TEST_F(PivAppletTest, APulledCardKeepsItsStateIncludingSpentTries) {
  const Bytes certificate = personalise();
  ASSERT_EQ(client_->verify_pin("00000000")->outcome, PinCheck::Outcome::wrong);
  load();  // the emulator restarts from its file, as after a pulled card
  EXPECT_EQ(send("00200080").sw, 0x63C2);
  auto read_back = client_->read_certificate(piv::key::kAuthentication);
  ASSERT_TRUE(read_back);
  EXPECT_EQ(*read_back, certificate);
  EXPECT_EQ(client_->verify_pin("24681357")->outcome, PinCheck::Outcome::accepted);
}

TEST_F(PivAppletTest, AFailedSaveChangesNothing) {
  PivApplet failing(applet_->state(), [](const CardState&) { return Status(make_error(ErrorCategory::io, "disk full")); });
  LocalTransport transport(failing);
  firmware::PivClient client(transport);
  auto check = client.verify_pin("000000");
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, 0x6581);
  EXPECT_EQ(failing.state().pin.tries_left, 3);
  EXPECT_EQ(failing.process(hex("00200080")), hex("63c3"));
}

TEST_F(PivAppletTest, TheStateFileHoldsNoPinOrPukInClear) {
  ASSERT_EQ(client_->change_pin("123456", "97531864")->outcome, PinCheck::Outcome::accepted);
  const std::string text = read_file(file_.path());
  EXPECT_EQ(text.find("97531864"), std::string::npos);
  EXPECT_EQ(text.find(to_hex(bytes_of("97531864"))), std::string::npos);
  EXPECT_EQ(text.find(to_hex(bytes_of("12345678"))), std::string::npos);
}

TEST_F(PivAppletTest, ACorruptStateFileIsRefusedWithAReason) {
  for (const char* content : {"", "{}", "[1,2]", R"({"version": 1, "serial": "zz"})", "not json"}) {
    std::ofstream(file_.path(), std::ios::trunc) << content;
    auto loaded = file_.load();
    ASSERT_FALSE(loaded) << content;
    EXPECT_EQ(loaded.error().category, ErrorCategory::config);
  }
}

}  // namespace
}  // namespace sdbox::softcard
