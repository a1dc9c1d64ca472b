#include "sdbox/common/terminal.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace sdbox {

Result<std::string> read_secret(std::string_view prompt) {
  std::string secret;
  if (::isatty(STDIN_FILENO) == 0) {
    if (!std::getline(std::cin, secret)) return make_error(ErrorCategory::usage, "no PIN on standard input");
    return secret;
  }
  std::fprintf(stderr, "%.*s", static_cast<int>(prompt.size()), prompt.data());
  std::fflush(stderr);
  termios saved{};
  ::tcgetattr(STDIN_FILENO, &saved);
  termios silent = saved;
  silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
  const bool read = static_cast<bool>(std::getline(std::cin, secret));
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  std::fprintf(stderr, "\n");
  if (!read) return make_error(ErrorCategory::usage, "no PIN entered");
  return secret;
}

}  // namespace sdbox
