#pragma once

#include "sdbox/common/apdu.hpp"
#include "sdbox/common/bytes.hpp"
#include "sdbox/common/result.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace sdbox::firmware {

/// A card arriving in or leaving the reader.
struct CardEvent {
  enum class Kind { inserted, removed };
  Kind kind = Kind::removed;
  std::string reader;
  Bytes atr;  ///< empty on removal
  std::chrono::steady_clock::time_point seen_at;
};

/// An open connection to the card in the reader; APDUs go through `transmit`.
class CardChannel : public apdu::Transport {
 public:
  /// True while the card that was connected is still the one in the reader.
  [[nodiscard]] virtual bool present() = 0;
};

/// The box's card reader role.
class CardReader {
 public:
  using EventHandler = std::function<void(const CardEvent&)>;

  virtual ~CardReader() = default;

  /// Starts watching the reader. `handler` runs on the executor the reader was created with,
  /// never on the watching thread; an already present card is reported as inserted.
  virtual void watch(EventHandler handler) = 0;

  /// Stops watching; no handler runs after this returns... except those already posted.
  virtual void stop() = 0;

  /// Connects to the card that is in the reader now.
  [[nodiscard]] virtual Result<std::unique_ptr<CardChannel>> connect() = 0;
};

}  // namespace sdbox::firmware
