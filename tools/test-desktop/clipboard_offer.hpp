#pragma once

#include "session_registry.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sdbox::desktop {

using Pdu = std::vector<std::uint8_t>;

/// The server side of the clipboard channel (MS-RDPECLIP), just enough to *offer* text: after the
/// client's format list we announce CF_UNICODETEXT and answer a data request with `text`. A
/// client (or gateway) that should not carry clipboard never lets this reach a user, and the
/// record shows how far it got.
class ClipboardOffer {
 public:
  static constexpr std::uint32_t cf_unicodetext = 13;

  explicit ClipboardOffer(std::string text) : text_(std::move(text)) {}

  /// Capabilities and Monitor Ready: what the server sends once the channel is open.
  [[nodiscard]] std::vector<Pdu> start() const;
  /// One PDU from the client; returns the replies and updates `record`.
  std::vector<Pdu> on_client_pdu(std::span<const std::uint8_t> pdu, ClipboardRecord& record);

 private:
  [[nodiscard]] Pdu format_list() const;
  [[nodiscard]] Pdu text_response(std::uint32_t format) const;

  std::string text_;
  bool client_long_names_ = false;
  bool offered_ = false;
};

}  // namespace sdbox::desktop
