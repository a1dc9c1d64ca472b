#pragma once

#include "piv_applet.hpp"

#include "sdbox/common/apdu.hpp"

namespace sdbox::testing {

/// Talks to a PivApplet in the same process, for tests of card logic that need no reader.
class AppletTransport : public apdu::Transport {
 public:
  explicit AppletTransport(softcard::PivApplet& applet) : applet_(applet) {}
  Result<Bytes> transmit(ByteView command) override { return applet_.process(command); }

 private:
  softcard::PivApplet& applet_;
};

}  // namespace sdbox::testing
