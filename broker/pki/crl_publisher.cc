#include "pki/crl_publisher.hpp"

namespace sdbox::broker {

Result<std::size_t> publish_crl(const Pki& pki, Store& store, Pki::Authority authority) {
  std::vector<std::string> revoked;
  if (authority == Pki::Authority::boxes) {
    auto boxes = store.boxes();
    if (!boxes) return boxes.error();
    for (const auto& box : *boxes) {
      if (box.state == BoxState::revoked) revoked.push_back(box.certificate_serial);
    }
  } else if (authority == Pki::Authority::users) {
    auto cards = store.cards();
    if (!cards) return cards.error();
    for (const auto& card : *cards) {
      if (card.state == CardState::revoked) revoked.push_back(card.certificate_serial);
    }
  }
  if (auto written = pki.write_crl(authority, revoked); !written) return written.error();
  return revoked.size();
}

}  // namespace sdbox::broker
