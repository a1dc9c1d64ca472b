#pragma once

#include <string>
#include <vector>

namespace sdbox::firmware {

/// What the box shows at one moment of the login.
struct ScreenView {
  enum class Tone { info, problem, success };
  std::string title;               ///< "You may connect", "Enter your PIN"...
  std::vector<std::string> lines;  ///< what happened and what to do
  std::string prompt;              ///< non-empty when the box waits for typed input
  bool masked = false;             ///< typed characters are shown as '*'
  Tone tone = Tone::info;
};

/// The box's screen role: the console today, a graphical screen later.
class Screen {
 public:
  virtual ~Screen() = default;
  /// Replaces what is shown.
  virtual void show(const ScreenView& view) = 0;
  /// Redraws the input line (already masked by the caller when the prompt is masked).
  virtual void show_input(const std::string& shown) = 0;
};

}  // namespace sdbox::firmware
