#pragma once

#include "store/store.hpp"

#include "sdbox/common/result.hpp"

#include <chrono>
#include <string>

namespace sdbox::broker {

/// What the broker asks of a project's desktop beyond RDP itself. RDP has no way for a client to
/// end its own session on a server (FreeRDP's server library even swallows the Shutdown Request),
/// so logoff goes through the desktop's own management side.
class DesktopProvider {
 public:
  virtual ~DesktopProvider() = default;
  /// Ends `login`'s session on `desktop` (its programs stop). An error says why not.
  virtual Status logoff(const Desktop& desktop, const std::string& login) = 0;
};

/// Logoff through the desktop's `logoff_endpoint`: "unix:/path" is a control socket that takes
/// "logoff LOGIN" and answers "ok" or "error: ..." (the test desktop's). A desktop without an
/// endpoint cannot be logged off from here: that is an error the caller audits.
class EndpointDesktopProvider final : public DesktopProvider {
 public:
  explicit EndpointDesktopProvider(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) : timeout_(timeout) {}
  Status logoff(const Desktop& desktop, const std::string& login) override;

 private:
  std::chrono::milliseconds timeout_;
};

}  // namespace sdbox::broker
