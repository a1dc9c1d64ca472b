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

/// Logs `session`'s member off their project's desktop (with the member's account from the store)
/// and audits `desktop.logoff` under `actor`, with the error when it failed. Whoever ends a desktop
/// session calls this: the box's Close session, or staff ending it.
Status log_member_off(Store& store, DesktopProvider& desktops, const Session& session, const std::string& actor);

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
