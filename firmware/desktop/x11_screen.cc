#include "desktop/x11_screen.hpp"

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <freerdp/input.h>
#include <freerdp/locale/keyboard.h>
#include <freerdp/scancode.h>

#include <algorithm>

namespace sdbox::firmware {

struct X11Screen::State {
  Display* display = nullptr;
  Window window = 0;
  GC gc = nullptr;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

X11Screen::X11Screen(std::unique_ptr<State> state) : state_(std::move(state)) {}

X11Screen::~X11Screen() {
  if (state_->display == nullptr) return;
  if (state_->gc != nullptr) XFreeGC(state_->display, state_->gc);
  if (state_->window != 0) XDestroyWindow(state_->display, state_->window);
  XCloseDisplay(state_->display);
}

Result<std::unique_ptr<X11Screen>> X11Screen::open(std::uint32_t width, std::uint32_t height) {
  auto state = std::make_unique<State>();
  state->display = XOpenDisplay(nullptr);
  if (state->display == nullptr) return make_error(ErrorCategory::io, "cannot open the X display ($DISPLAY)");
  std::unique_ptr<X11Screen> screen(new X11Screen(std::move(state)));
  auto& s = *screen->state_;
  const int number = DefaultScreen(s.display);
  if (DefaultDepth(s.display, number) != 24 && DefaultDepth(s.display, number) != 32) {
    return make_error(ErrorCategory::io, "the X display is not a true-colour 24/32-bit display");
  }
  s.width = width;
  s.height = height;
  XSetWindowAttributes attributes{};
  attributes.background_pixel = BlackPixel(s.display, number);
  // No window manager decorations or moves: the box shows the desktop and nothing else.
  attributes.override_redirect = True;
  attributes.event_mask = KeyPressMask | KeyReleaseMask | ButtonPressMask | ButtonReleaseMask | PointerMotionMask | ExposureMask;
  s.window = XCreateWindow(s.display, RootWindow(s.display, number), 0, 0, width, height, 0, CopyFromParent, InputOutput,
                           CopyFromParent, CWBackPixel | CWOverrideRedirect | CWEventMask, &attributes);
  XStoreName(s.display, s.window, "SD-Box desktop");
  s.gc = XCreateGC(s.display, s.window, 0, nullptr);
  XMapRaised(s.display, s.window);
  XSetInputFocus(s.display, s.window, RevertToParent, CurrentTime);
  XFlush(s.display);
  freerdp_keyboard_init(0);
  return screen;
}

void X11Screen::draw(const rdp::FrameView& frame, const std::vector<rdp::Rect>& painted) {
  auto& s = *state_;
  if (frame.pixels == nullptr) return;
  const int number = DefaultScreen(s.display);
  XImage* image = XCreateImage(s.display, DefaultVisual(s.display, number), static_cast<unsigned>(DefaultDepth(s.display, number)),
                               ZPixmap, 0, const_cast<char*>(reinterpret_cast<const char*>(frame.pixels)), frame.width,
                               frame.height, 32, static_cast<int>(frame.stride));
  if (image == nullptr) return;
  for (auto rect : painted) {
    // Never outside the image: Xlib's default error handler would end the process.
    if (rect.x >= frame.width || rect.y >= frame.height) continue;
    rect.width = std::min(rect.width, frame.width - rect.x);
    rect.height = std::min(rect.height, frame.height - rect.y);
    XPutImage(s.display, s.window, s.gc, image, static_cast<int>(rect.x), static_cast<int>(rect.y), static_cast<int>(rect.x),
              static_cast<int>(rect.y), rect.width, rect.height);
  }
  image->data = nullptr;  // the frame's memory is the viewer's
  XDestroyImage(image);
  XFlush(s.display);
}

bool X11Screen::forward_input(rdp::Viewer& viewer) {
  auto& s = *state_;
  while (XPending(s.display) > 0) {
    XEvent event{};
    XNextEvent(s.display, &event);
    switch (event.type) {
      case KeyPress:
      case KeyRelease: {
        const DWORD scancode = freerdp_keyboard_get_rdp_scancode_from_x11_keycode(event.xkey.keycode);
        if (scancode == RDP_SCANCODE_UNKNOWN) break;
        std::uint16_t flags = event.type == KeyRelease ? KBD_FLAGS_RELEASE : KBD_FLAGS_DOWN;
        if (RDP_SCANCODE_EXTENDED(scancode)) flags |= KBD_FLAGS_EXTENDED;
        (void)viewer.send_keyboard(flags, RDP_SCANCODE_CODE(scancode));
        break;
      }
      case MotionNotify:
        (void)viewer.send_mouse(PTR_FLAGS_MOVE, static_cast<std::uint16_t>(event.xmotion.x), static_cast<std::uint16_t>(event.xmotion.y));
        break;
      case ButtonPress:
      case ButtonRelease: {
        std::uint16_t button = 0;
        if (event.xbutton.button == Button1) button = PTR_FLAGS_BUTTON1;
        else if (event.xbutton.button == Button2) button = PTR_FLAGS_BUTTON3;
        else if (event.xbutton.button == Button3) button = PTR_FLAGS_BUTTON2;
        if (button == 0) break;
        const auto flags = static_cast<std::uint16_t>(button | (event.type == ButtonPress ? PTR_FLAGS_DOWN : 0));
        (void)viewer.send_mouse(flags, static_cast<std::uint16_t>(event.xbutton.x), static_cast<std::uint16_t>(event.xbutton.y));
        break;
      }
      case Expose: {
        auto frame = viewer.frame();
        draw(frame, {rdp::Rect{static_cast<std::uint32_t>(event.xexpose.x), static_cast<std::uint32_t>(event.xexpose.y),
                               static_cast<std::uint32_t>(event.xexpose.width), static_cast<std::uint32_t>(event.xexpose.height)}});
        break;
      }
      default:
        break;
    }
  }
  return true;
}

}  // namespace sdbox::firmware
