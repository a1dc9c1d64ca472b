// Through the real stack: private pcscd + vsmartcard vpcd + the softcard process.
#include "card/pcsc_card_reader.hpp"
#include "card/piv_client.hpp"
#include "card_stack.hpp"
#include "temp_dir.hpp"
#include "test_card.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace sdbox::firmware {
namespace {

using testing::CardStack;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

using testing::read_file;

class PcscCardTest : public ::testing::Test {
 protected:
  PcscCardTest() : stack_(CardStack::instance()), state_(dir_ / "card.json") {}
  ~PcscCardTest() override { stack_.pull(); }

  std::unique_ptr<PcscCardReader> reader() { return PcscCardReader::create({io_.get_executor(), cardlab::kReaderName}); }

  void insert_and_wait() {
    stack_.insert(state_);
    ASSERT_TRUE(reader()->wait_for_card(true, std::chrono::seconds(5)).ok());
  }

  /// A connection to the inserted card with the PIV application selected.
  struct Connected {
    std::unique_ptr<CardChannel> channel;
    std::unique_ptr<PivClient> card;
  };
  Connected connect_selected() {
    auto channel = reader()->connect();
    EXPECT_TRUE(channel) << channel.error().describe();
    if (!channel) return {};
    auto card = std::make_unique<PivClient>(**channel);
    EXPECT_TRUE(card->select().ok());
    return {std::move(*channel), std::move(card)};
  }

  /// Personalises the inserted card through PC/SC, as `sdboxctl card init` does.
  Bytes personalise() {
    auto connected = connect_selected();
    return connected.card ? testing::personalise_test_card(*connected.card, dir_ / "ca", {"PC/SC Researcher"}) : Bytes{};
  }

  /// Runs the io_context until `predicate` holds or the deadline passes.
  bool run_until(const std::function<bool()>& predicate, std::chrono::milliseconds deadline) {
    const auto end = Clock::now() + deadline;
    while (!predicate() && Clock::now() < end) {
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
    return predicate();
  }

  TempDir dir_;
  CardStack& stack_;
  std::filesystem::path state_;
  boost::asio::io_context io_;
};

TEST_F(PcscCardTest, InsertionAndRemovalArePostedWithinOneSecond) {
  auto watched = reader();
  std::vector<CardEvent> events;
  std::thread::id handler_thread;
  watched->watch([&](const CardEvent& event) {
    events.push_back(event);
    handler_thread = std::this_thread::get_id();
  });

  const auto inserted_at = Clock::now();
  stack_.insert(state_);
  ASSERT_TRUE(run_until([&] { return !events.empty(); }, std::chrono::seconds(3)));
  const auto insert_latency = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - inserted_at);
  EXPECT_EQ(events[0].kind, CardEvent::Kind::inserted);
  EXPECT_FALSE(events[0].atr.empty());
  EXPECT_LT(insert_latency, std::chrono::milliseconds(1000)) << insert_latency.count() << " ms";
  EXPECT_EQ(handler_thread, std::this_thread::get_id()) << "events run on the io_context, not the monitor thread";

  const auto removed_at = Clock::now();
  stack_.pull();
  ASSERT_TRUE(run_until([&] { return events.size() >= 2; }, std::chrono::seconds(3)));
  const auto remove_latency = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - removed_at);
  EXPECT_EQ(events[1].kind, CardEvent::Kind::removed);
  EXPECT_LT(remove_latency, std::chrono::milliseconds(1000)) << remove_latency.count() << " ms";
  std::cout << "insert seen after " << insert_latency.count() << " ms, removal after " << remove_latency.count()
            << " ms\n";

  stack_.insert(state_);
  ASSERT_TRUE(run_until([&] { return events.size() >= 3; }, std::chrono::seconds(3)));
  EXPECT_EQ(events[2].kind, CardEvent::Kind::inserted) << "a card put back is seen again";
  watched->stop();
}

TEST_F(PcscCardTest, ACardAlreadyPresentIsReportedWhenWatchingStarts) {
  insert_and_wait();
  auto watched = reader();
  std::vector<CardEvent> events;
  watched->watch([&](const CardEvent& event) { events.push_back(event); });
  ASSERT_TRUE(run_until([&] { return !events.empty(); }, std::chrono::seconds(2)));
  EXPECT_EQ(events[0].kind, CardEvent::Kind::inserted);
  watched->stop();
}

TEST_F(PcscCardTest, ThreeWrongPinsBlockTheCardAndThePukUnblocksItThroughPcsc) {
  insert_and_wait();
  auto connected = connect_selected();
  ASSERT_TRUE(connected.card);
  PivClient& card = *connected.card;
  EXPECT_EQ(card.verify_pin("999999")->tries_left, 2);
  EXPECT_EQ(card.verify_pin("999999")->tries_left, 1);
  EXPECT_EQ(card.verify_pin("999999")->outcome, PinCheck::Outcome::blocked);
  EXPECT_EQ(card.verify_pin("123456")->outcome, PinCheck::Outcome::blocked);
  auto status = card.pin_status();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->blocked);
  EXPECT_EQ(card.unblock_pin("12345678", "112233")->outcome, PinCheck::Outcome::accepted);
  EXPECT_EQ(card.verify_pin("112233")->outcome, PinCheck::Outcome::accepted);
}

TEST_F(PcscCardTest, ACardSignatureVerifiesWithOpenSslAgainstItsCertificate) {
  insert_and_wait();
  const Bytes issued = personalise();
  auto connected = connect_selected();
  ASSERT_TRUE(connected.card);
  PivClient& card = *connected.card;
  auto der = card.read_certificate(piv::key::kAuthentication);
  ASSERT_TRUE(der) << der.error().describe();
  EXPECT_EQ(*der, issued);
  ASSERT_EQ(card.verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  const Bytes digest = crypto::sha256(bytes_of("challenge | exporter | box | project"));
  auto signature = card.sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
  ASSERT_TRUE(signature) << signature.error().describe();

  // Verify with the openssl command line as an outside party would.
  auto certificate = crypto::certificate_from_der(*der);
  ASSERT_TRUE(certificate);
  ASSERT_TRUE(crypto::write_certificate_pem(**certificate, dir_ / "card.pem"));
  std::ofstream(dir_ / "message", std::ios::binary) << "challenge | exporter | box | project";
  std::ofstream(dir_ / "signature", std::ios::binary)
      .write(reinterpret_cast<const char*>(signature->data()), static_cast<std::streamsize>(signature->size()));
  const std::string dir = dir_.path().string();
  const std::string command = "openssl x509 -in " + dir + "/card.pem -pubkey -noout > " + dir + "/card.pub && " +
                              "openssl dgst -sha256 -verify " + dir + "/card.pub -signature " + dir + "/signature " +
                              dir + "/message > " + dir + "/verdict 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << read_file(dir_ / "verdict");
  EXPECT_EQ(read_file(dir_ / "verdict"), "Verified OK\n");
  // And the CA issued it: openssl verify against the CA directory.
  const std::string chain = "openssl verify -CAfile " + dir + "/ca/ca.crt " + dir + "/card.pem > /dev/null 2>&1";
  EXPECT_EQ(std::system(chain.c_str()), 0);
}

TEST_F(PcscCardTest, GeneralAuthenticateBeforeThePinIsRefusedThroughPcsc) {
  insert_and_wait();
  personalise();
  auto connected = connect_selected();
  ASSERT_TRUE(connected.card);
  PivClient& card = *connected.card;
  auto refused = card.sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, crypto::sha256(bytes_of("x")));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().category, ErrorCategory::card);
  EXPECT_EQ(refused.error().code, 0x6982);
}

TEST_F(PcscCardTest, PinVerificationDoesNotOutliveTheConnection) {
  insert_and_wait();
  {
    auto connected = connect_selected();
    ASSERT_TRUE(connected.card);
    PivClient& card = *connected.card;
    ASSERT_EQ(card.verify_pin("123456")->outcome, PinCheck::Outcome::accepted);
  }
  auto connected = connect_selected();
  ASSERT_TRUE(connected.card);
  PivClient& card = *connected.card;
  auto status = card.pin_status();
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->verified) << "the next person at the box must type the PIN again";
}

TEST_F(PcscCardTest, MalformedApdusThroughPcscLeaveTheStateFileByteIdentical) {
  insert_and_wait();
  personalise();
  const std::string before = read_file(state_);
  auto channel = reader()->connect();
  ASSERT_TRUE(channel);
  for (const char* text : {"00cb3fff05aabb", "80cb3fff035c017e00", "00ee000000", "00200080043132333400",
                           "0020008008313233ffff34353600", "00db3fff065c017e530100", "0047009a03ac0180",
                           "0087119a0a7c088200810431323334", "00db3fff075c035fc1025380"}) {
    Bytes command;
    ASSERT_TRUE(from_hex(text, command));
    auto raw = (*channel)->transmit(command);
    ASSERT_TRUE(raw) << text << ": " << raw.error().describe();
    auto response = apdu::Response::parse(*raw);
    ASSERT_TRUE(response);
    EXPECT_NE(response->sw, 0x9000) << text;
  }
  EXPECT_EQ(read_file(state_), before);
}

TEST_F(PcscCardTest, APulledCardKeepsItsStateAcrossReinsertion) {
  insert_and_wait();
  {
    auto connected = connect_selected();
    ASSERT_TRUE(connected.card);
    PivClient& card = *connected.card;
    ASSERT_EQ(card.verify_pin("000000")->tries_left, 2);
  }
  stack_.pull();
  ASSERT_TRUE(reader()->wait_for_card(false, std::chrono::seconds(3)).ok());
  insert_and_wait();
  auto connected = connect_selected();
  ASSERT_TRUE(connected.card);
  PivClient& card = *connected.card;
  auto status = card.pin_status();
  ASSERT_TRUE(status);
  EXPECT_EQ(status->tries_left, 2);
}

TEST_F(PcscCardTest, ConnectingWithoutACardIsAClearPcscError) {
  auto channel = reader()->connect();
  ASSERT_FALSE(channel);
  EXPECT_EQ(channel.error().category, ErrorCategory::pcsc);
  EXPECT_FALSE(channel.error().message.empty());
}

}  // namespace
}  // namespace sdbox::firmware
