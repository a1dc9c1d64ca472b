#pragma once

#include "sdbox/common/result.hpp"
#include "sdbox/rdp/viewer.hpp"

#include <map>
#include <string>
#include <string_view>

namespace sdbox::broker {

/// What the broker hands one gateway process on its standard input (never on the command line,
/// where other local users could read the desktop password).
struct GatewaySettings {
  /// The project desktop and this member's account on it; the size comes from the box.
  rdp::ViewerConfig desktop;
  /// The gateway's TLS identity towards the box (the box pins this certificate).
  std::string certificate_pem;
  std::string private_key_pem;
  /// One-time credentials the box's RDP client must present (from "session ready").
  std::string box_user;
  std::string box_password;
  /// session, user, box, project: added to every log line and event.
  std::map<std::string, std::string> context;
};

/// Strict: one JSON object with exactly the known keys and types; anything else is an error
/// that names the field.
Result<GatewaySettings> parse_gateway_settings(std::string_view text);
/// The JSON the parser accepts (the broker writes it).
std::string serialise_gateway_settings(const GatewaySettings& settings);

}  // namespace sdbox::broker
