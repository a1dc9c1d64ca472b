#include "card_stack.hpp"

#include "card/pcsc_card_reader.hpp"

#include <boost/asio/io_context.hpp>

#include <stdexcept>

namespace sdbox::testing {

CardStack& CardStack::instance() {
  static CardStack stack;
  return stack;
}

CardStack::CardStack() {
  cardlab::PcscdOptions options;
  options.directory = directory_.path();
  auto started = cardlab::PrivatePcscd::start(options);
  if (!started) throw std::runtime_error("private pcscd: " + started.error().describe());
  pcscd_ = std::move(*started);
  ::setenv("PCSCLITE_CSOCK_NAME", pcscd_->socket_path().c_str(), 1);
}

void CardStack::insert(const std::filesystem::path& state) {
  pull();
  auto card = cardlab::insert_softcard({SDBOX_SOFTCARD_PROGRAM, state, pcscd_->vpcd_port(),
                                        directory_.path() / "softcard.log", "info"});
  if (!card) throw std::runtime_error("softcard: " + card.error().describe());
  card_.emplace(std::move(*card));
}

void CardStack::pull() {
  if (!card_) return;
  card_->stop();
  card_.reset();
  // vpcd notices a closed socket at its next presence poll (up to 400 ms); until PC/SC reports
  // the reader empty, the next test would still see this card.
  boost::asio::io_context unused;
  auto reader = firmware::PcscCardReader::create({unused.get_executor(), cardlab::kReaderName});
  if (auto removed = reader->wait_for_card(false, std::chrono::seconds(3)); !removed) {
    throw std::runtime_error("card still present after pulling it: " + removed.error().describe());
  }
}

}  // namespace sdbox::testing
