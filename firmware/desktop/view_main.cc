// sdbox-desktop-view: the box's RDP client for one desktop view, in its own process (FreeRDP has
// its own loop, and WinPR brings its own PC/SC symbols that must never meet the agent's card
// client). The agent starts it after "session ready" and kills it when the card is pulled.
//
// stdin, first line: {"socket","user","password","certificate_sha256","width","height"[,"port"]
// [,"on_screen"]} (the one-time credentials never appear on the command line); with "on_screen"
// the desktop is drawn full-screen on $DISPLAY and its keyboard and mouse go to the desktop;
// then commands, one per line:
//   key FLAGS SCANCODE      a key event (RDP keyboard flags, scancode)
//   screenshot PATH         the current frame as a binary PPM
// stdout: JSON lines {"event":"first_frame"}, {"event":"screenshot","path":...},
// {"event":"ended","reason":...}.
#include "desktop/x11_screen.hpp"

#include "sdbox/common/log.hpp"
#include "sdbox/rdp/viewer.hpp"

#include <nlohmann/json.hpp>
#include <winpr/wlog.h>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

using Json = nlohmann::json;

void emit(const Json& event) { std::cout << event.dump() << std::endl; }

bool write_ppm(const sdbox::rdp::FrameView& frame, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  out << "P6\n" << frame.width << " " << frame.height << "\n255\n";
  std::string row(static_cast<std::size_t>(frame.width) * 3, '\0');
  for (std::uint32_t y = 0; y < frame.height; ++y) {
    for (std::uint32_t x = 0; x < frame.width; ++x) {
      const std::uint32_t rgb = frame.rgb(x, y);
      const std::size_t at = std::size_t{x} * 3;
      row[at] = static_cast<char>(rgb >> 16);
      row[at + 1] = static_cast<char>(rgb >> 8);
      row[at + 2] = static_cast<char>(rgb);
    }
    out.write(row.data(), static_cast<std::streamsize>(row.size()));
  }
  return static_cast<bool>(out);
}

/// Reads what stdin has without blocking; complete lines go to `lines`.
bool read_commands(std::string& pending, std::vector<std::string>& lines) {
  pollfd input{STDIN_FILENO, POLLIN, 0};
  while (::poll(&input, 1, 0) > 0) {
    char buffer[4096];
    auto n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n <= 0) return false;  // the agent went away: so does the view
    pending.append(buffer, static_cast<std::size_t>(n));
  }
  for (auto at = pending.find('\n'); at != std::string::npos; at = pending.find('\n')) {
    lines.push_back(pending.substr(0, at));
    pending.erase(0, at + 1);
  }
  return true;
}

}  // namespace

int main() {
  signal(SIGPIPE, SIG_IGN);
  sdbox::log::init("desktop-view", "");
  wLog* root = WLog_GetRoot();
  WLog_SetLogAppenderType(root, WLOG_APPENDER_CONSOLE);
  WLog_ConfigureAppender(WLog_GetLogAppender(root), "outputstream", const_cast<char*>("stderr"));
  if (std::getenv("WLOG_LEVEL") == nullptr) WLog_SetLogLevel(root, WLOG_ERROR);

  std::string first_line;
  if (!std::getline(std::cin, first_line)) {
    std::cerr << "sdbox-desktop-view: no target on stdin\n";
    return 2;
  }
  Json target = Json::parse(first_line, nullptr, false);
  if (!target.is_object() || !target.contains("socket") || !target["socket"].is_string()) {
    std::cerr << "sdbox-desktop-view: the target is not a JSON object with a socket\n";
    return 2;
  }
  sdbox::rdp::ViewerConfig config;
  bool on_screen = false;
  try {
    config.host = target.value("socket", "");
    config.user = target.value("user", "");
    config.password = target.value("password", "");
    config.pinned_certificate_sha256 = target.value("certificate_sha256", "");
    config.width = target.value("width", 1280U);
    config.height = target.value("height", 800U);
    config.port = target.value("port", std::uint16_t{3389});
    on_screen = target.value("on_screen", false);
  } catch (const nlohmann::json::exception& wrong) {
    std::cerr << "sdbox-desktop-view: a field of the target has the wrong type: " << wrong.what() << "\n";
    return 2;
  }
  if (config.pinned_certificate_sha256.size() != 64) {
    std::cerr << "sdbox-desktop-view: the gateway's certificate pin is missing: refusing to connect\n";
    return 2;
  }
  auto viewer = sdbox::rdp::Viewer::connect(config);
  if (!viewer) {
    emit({{"event", "ended"}, {"reason", viewer.error().message}});
    return 1;
  }
  std::unique_ptr<sdbox::firmware::X11Screen> screen;
  if (on_screen) {
    auto opened = sdbox::firmware::X11Screen::open(config.width, config.height);
    if (!opened) {
      emit({{"event", "ended"}, {"reason", opened.error().message}});
      return 1;
    }
    screen = std::move(*opened);
    const auto frame = (*viewer)->frame();
    screen->draw(frame, {sdbox::rdp::Rect{0, 0, frame.width, frame.height}});
    (void)(*viewer)->take_painted();
  }
  emit({{"event", "first_frame"}, {"width", (*viewer)->frame().width}, {"height", (*viewer)->frame().height}});
  std::string pending;
  std::string reason = "the box closed the view";
  while (true) {
    std::vector<std::string> commands;
    if (!read_commands(pending, commands)) break;
    for (const auto& command : commands) {
      std::istringstream words(command);
      std::string verb;
      words >> verb;
      if (verb == "key") {
        unsigned flags = 0, scancode = 0;
        if (words >> flags >> scancode && flags <= 0xFFFF && scancode <= 0xFFFF) {
          (void)(*viewer)->send_keyboard(static_cast<std::uint16_t>(flags), static_cast<std::uint16_t>(scancode));
        }
      } else if (verb == "screenshot") {
        std::string path;
        std::getline(words >> std::ws, path);
        if (!path.empty() && write_ppm((*viewer)->frame(), path)) emit({{"event", "screenshot"}, {"path", path}});
      }
    }
    if (screen) screen->forward_input(**viewer);
    // Short waits when a person is at the screen: their keys are read between two waits.
    if (auto pumped = (*viewer)->pump(std::chrono::milliseconds(screen ? 5 : 20)); !pumped) {
      reason = pumped.error().message;
      emit({{"event", "ended"}, {"reason", reason}});
      return 1;
    }
    auto painted = (*viewer)->take_painted();
    if (screen && !painted.empty()) screen->draw((*viewer)->frame(), painted);
  }
  return 0;
}
