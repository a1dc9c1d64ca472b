#pragma once

#include "sdbox/common/result.hpp"

#include <filesystem>
#include <string>

namespace sdbox::desktop {

/// The TLS certificate and key the RDP listener presents, as PEM text: FreeRDP's server takes
/// them from memory, so a generated identity never touches the disk.
struct TlsIdentity {
  std::string certificate_pem;
  std::string private_key_pem;

  /// A fresh P-256 key and a self-signed certificate for 127.0.0.1/localhost (tests ignore or pin it).
  static Result<TlsIdentity> generate();
  /// Files given on the command line; checked now, so a bad file fails at start-up, not per connection.
  static Result<TlsIdentity> load(const std::filesystem::path& certificate, const std::filesystem::path& key);
};

}  // namespace sdbox::desktop
