#pragma once

#include "card/card_reader.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace sdbox::firmware {

/// CardReader over PC/SC (pcsc-lite). A monitor thread blocks in SCardGetStatusChange and posts
/// typed events to the firmware's executor; it is woken with SCardCancel to stop.
class PcscCardReader final : public CardReader {
 public:
  struct Config {
    boost::asio::any_io_executor executor;
    /// Use the first reader whose name starts with this (empty: the first reader).
    std::string reader_prefix;
    /// Exclusive access keeps other processes on the box away from the card while connected.
    bool exclusive = false;
    /// Reset the card when the connection closes, so whatever was verified on it (the PIN) is
    /// forgotten and the next connection starts from scratch.
    bool reset_on_disconnect = true;
  };

  static std::unique_ptr<PcscCardReader> create(Config config);
  ~PcscCardReader() override;

  void watch(EventHandler handler) override;
  void stop() override;
  [[nodiscard]] Result<std::unique_ptr<CardChannel>> connect() override;

  /// Blocks until a card is present (or absent) in a matching reader; for tools and tests.
  [[nodiscard]] Status wait_for_card(bool present, std::chrono::milliseconds timeout);

 private:
  explicit PcscCardReader(Config config) : config_(std::move(config)) {}
  void monitor(EventHandler handler);

  Config config_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex context_mutex_;
  long monitor_context_ = 0;  // SCARDCONTEXT of the monitor thread, for SCardCancel
  bool monitor_context_valid_ = false;
};

/// PC/SC return codes as text ("SCARD_E_NO_SERVICE: ...").
std::string describe_pcsc(long code);

}  // namespace sdbox::firmware
