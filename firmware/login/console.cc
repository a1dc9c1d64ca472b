#include "login/console.hpp"

#include <boost/asio/post.hpp>

#include <poll.h>
#include <unistd.h>

namespace sdbox::firmware {

void ConsoleScreen::show(const ScreenView& view) {
  current_ = view;
  const char* colour = view.tone == ScreenView::Tone::problem   ? "\033[1;31m"
                       : view.tone == ScreenView::Tone::success ? "\033[1;32m"
                                                                : "\033[1m";
  // Clear, then a plain layout: people read it, and tests read it back with tmux capture-pane.
  out_ << "\033[2J\033[H";
  out_ << "  SD-Box\n  ------\n\n";
  out_ << "  " << colour << view.title << "\033[0m\n\n";
  for (const auto& line : view.lines) out_ << "  " << line << "\n";
  if (!view.prompt.empty()) out_ << "\n  " << view.prompt;
  out_.flush();
}

void ConsoleScreen::show_input(const std::string& shown) {
  out_ << "\r\033[K  " << current_.prompt << shown;
  out_.flush();
}

ConsoleKeyboard::ConsoleKeyboard(boost::asio::any_io_executor executor, int fd) : executor_(std::move(executor)), fd_(fd) {
  if (::pipe(wake_) != 0) throw std::runtime_error("pipe failed");
}

ConsoleKeyboard::~ConsoleKeyboard() {
  stop();
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void ConsoleKeyboard::start(KeyHandler handler) {
  if (::isatty(fd_) == 1 && ::tcgetattr(fd_, &saved_) == 0) {
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    restore_terminal_ = ::tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  thread_ = std::thread([this, handler = std::move(handler)] {
    for (;;) {
      pollfd watched[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(watched, 2, -1) < 0) continue;
      if ((watched[1].revents & POLLIN) != 0) return;
      if ((watched[0].revents & (POLLIN | POLLHUP)) == 0) continue;
      char key = 0;
      if (::read(fd_, &key, 1) != 1) return;  // end of input: no more keys
      boost::asio::post(executor_, [handler, key] { handler(key); });
    }
  });
}

void ConsoleKeyboard::stop() {
  if (thread_.joinable()) {
    const char wake = 1;
    (void)!::write(wake_[1], &wake, 1);
    thread_.join();
  }
  if (restore_terminal_) {
    ::tcsetattr(fd_, TCSANOW, &saved_);
    restore_terminal_ = false;
  }
}

}  // namespace sdbox::firmware
