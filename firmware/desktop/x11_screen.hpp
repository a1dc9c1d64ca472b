#pragma once

#include "sdbox/rdp/viewer.hpp"

#include <memory>
#include <vector>

namespace sdbox::firmware {

/// The box's screen: one full-screen X11 window showing the desktop, and the keyboard and mouse
/// going back to it. Lives in sdbox-desktop-view, on the same thread as its rdp::Viewer.
class X11Screen {
 public:
  /// Opens $DISPLAY and a window of the desktop's size covering the screen.
  static Result<std::unique_ptr<X11Screen>> open(std::uint32_t width, std::uint32_t height);
  ~X11Screen();
  X11Screen(const X11Screen&) = delete;
  X11Screen& operator=(const X11Screen&) = delete;

  /// Draws the painted rectangles of `frame` (BGRX, which is the X server's 24-bit layout).
  void draw(const rdp::FrameView& frame, const std::vector<rdp::Rect>& painted);
  /// Sends the keys and pointer moves that arrived to `viewer`; false when the window was closed.
  bool forward_input(rdp::Viewer& viewer);

 private:
  struct State;
  explicit X11Screen(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sdbox::firmware
