#pragma once

#include "desktop/rdp_client.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <thread>

namespace sdbox::firmware {

/// The RdpClient as a child process (`sdbox-desktop-view`): FreeRDP's loop and WinPR (which
/// brings its own PC/SC symbols) stay out of the agent, and stopping the view is killing a
/// process, which nothing in it can delay. An adapter thread reads its events and posts them to
/// the firmware's executor.
class ProcessRdpClient final : public RdpClient {
 public:
  struct Config {
    boost::asio::any_io_executor executor;
    std::filesystem::path program;  ///< sdbox-desktop-view
    std::uint32_t width = 1280;
    std::uint32_t height = 800;
    /// Full screen on $DISPLAY (the box's screen); otherwise the desktop is rendered in memory only.
    bool on_screen = false;
  };
  explicit ProcessRdpClient(Config config) : config_(std::move(config)) {}
  ~ProcessRdpClient() override { stop(); }
  ProcessRdpClient(const ProcessRdpClient&) = delete;
  ProcessRdpClient& operator=(const ProcessRdpClient&) = delete;

  void start(const RdpTarget& target, Events events) override;
  void stop() override;
  [[nodiscard]] bool running() const override { return running_; }

  void send_key(std::uint16_t flags, std::uint16_t scancode) override;
  /// Asks for the current frame as a PPM file.
  void save_screenshot(const std::filesystem::path& path);

 private:
  void read_events(int output, Events events);
  void command(const std::string& line);

  Config config_;
  pid_t pid_ = -1;
  int input_ = -1;
  std::thread reader_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
  std::mutex input_mutex_;
};

}  // namespace sdbox::firmware
