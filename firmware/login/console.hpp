#pragma once

#include "login/screen.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <functional>
#include <ostream>
#include <thread>

#include <termios.h>

namespace sdbox::firmware {

/// The login screen in a terminal: cleared and redrawn on each step, typed PINs shown as '*'.
class ConsoleScreen final : public Screen {
 public:
  explicit ConsoleScreen(std::ostream& out) : out_(out) {}
  void show(const ScreenView& view) override;
  void show_input(const std::string& shown) override;

 private:
  std::ostream& out_;
  ScreenView current_;
};

/// The box keyboard: an adapter thread reads the terminal key by key (no echo, no line
/// buffering when it is a terminal) and posts each key to the firmware's executor.
class ConsoleKeyboard {
 public:
  using KeyHandler = std::function<void(char)>;
  ConsoleKeyboard(boost::asio::any_io_executor executor, int fd);
  ~ConsoleKeyboard();
  ConsoleKeyboard(const ConsoleKeyboard&) = delete;
  ConsoleKeyboard& operator=(const ConsoleKeyboard&) = delete;

  void start(KeyHandler handler);
  void stop();

 private:
  boost::asio::any_io_executor executor_;
  int fd_;
  int wake_[2] = {-1, -1};
  bool restore_terminal_ = false;
  termios saved_{};
  std::thread thread_;
};

}  // namespace sdbox::firmware
