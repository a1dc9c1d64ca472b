#pragma once

#include "tunnel/tunnel_client.hpp"

#include "sdbox/common/result.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace sdbox::firmware {

/// The box's configuration file: which broker, which certificate bundle, which devices.
///
///   # /etc/sdbox/box.conf
///   broker_host = broker.example     (required)
///   broker_port = 7443               (required)
///   broker_name = broker.example     (the name in the broker's certificate; default: the host)
///   bundle = /etc/sdbox/box          (required: client.crt, client.key, broker-ca.crt)
///   reader = Virtual PCD             (first reader whose name starts with this; default: any)
///   sensor_dpi = 500
///   retry_seconds = 3
///
/// One `key = value` per line, `#` starts a comment. Unknown or repeated keys are errors, so
/// a typo never silently falls back to a default.
struct BoxConfig {
  BrokerAddress broker;
  std::filesystem::path bundle;
  std::string reader;
  double sensor_dpi = 500;
  std::chrono::seconds retry_interval{3};
};

/// Parses the text of a configuration file; errors name the line. Relative bundle paths are
/// taken from `base` (the file's folder).
Result<BoxConfig> parse_box_config(std::string_view text, const std::filesystem::path& base = {});
Result<BoxConfig> load_box_config(const std::filesystem::path& file);

}  // namespace sdbox::firmware
