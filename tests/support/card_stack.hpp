#pragma once

#include "card_lab.hpp"
#include "temp_dir.hpp"

#include "sdbox/common/process.hpp"

#include <filesystem>
#include <memory>
#include <optional>

namespace sdbox::testing {

/// The real smartcard stack for one test process: a private pcscd with the vpcd driver, and a
/// softcard that the test inserts and pulls. PC/SC clients in this process are pointed at the
/// private pcscd. pcsc-lite reads PCSCLITE_CSOCK_NAME once per process, so the stack is shared by
/// all tests of a process; `pull` waits until PC/SC reports the reader empty so tests run one
/// after another in a process as well as one per process (as ctest runs them).
class CardStack {
 public:
  /// Starts pcscd on first use; later calls return the same stack.
  static CardStack& instance();

  /// Starts the softcard with `state` (a fresh card when the file does not exist).
  void insert(const std::filesystem::path& state);
  /// Stops the softcard and waits until PC/SC reports the reader empty.
  void pull();
  [[nodiscard]] bool inserted() const { return card_.has_value(); }
  [[nodiscard]] std::uint16_t vpcd_port() const { return pcscd_->vpcd_port(); }
  [[nodiscard]] const std::filesystem::path& directory() const { return directory_.path(); }

 private:
  CardStack();
  TempDir directory_;
  std::unique_ptr<cardlab::PrivatePcscd> pcscd_;
  std::optional<Process> card_;
};

}  // namespace sdbox::testing
