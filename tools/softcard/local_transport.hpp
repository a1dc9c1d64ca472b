#pragma once

#include "piv_applet.hpp"

#include "sdbox/common/apdu.hpp"

namespace sdbox::softcard {

/// Talks to a PivApplet in the same process: for tests of card logic that need no reader, and
/// as the in-process baseline of the card benchmark.
class LocalTransport final : public apdu::Transport {
 public:
  explicit LocalTransport(PivApplet& applet) : applet_(applet) {}
  Result<Bytes> transmit(ByteView command) override { return applet_.process(command); }

 private:
  PivApplet& applet_;
};

}  // namespace sdbox::softcard
