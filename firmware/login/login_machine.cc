#include "login/login_machine.hpp"

#include "desktop/desktop_link.hpp"
#include "finger/minutiae_extractor.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/log.hpp"
#include "sdbox/common/login_proof.hpp"
#include "sdbox/common/piv.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <cctype>
#include <optional>
#include <string_view>

namespace sdbox::firmware {

std::string_view to_string(LoginMachine::State state) {
  using State = LoginMachine::State;
  switch (state) {
    case State::connecting: return "connecting";
    case State::broker_unreachable: return "broker_unreachable";
    case State::box_refused: return "box_refused";
    case State::ready: return "ready";
    case State::pin: return "pin";
    case State::checking: return "checking";
    case State::choosing: return "choosing";
    case State::finger: return "finger";
    case State::connecting_session: return "connecting_session";
    case State::session_ready: return "session_ready";
    case State::desktop: return "desktop";
    case State::card_problem: return "card_problem";
  }
  return "unknown";
}

namespace {

namespace asio = boost::asio;
using Json = nlohmann::json;
using Tone = ScreenView::Tone;
using wire::Frame;
using wire::FrameType;

std::string finger_name(std::uint8_t position) {
  const bool left = (position & finger::position::kLeft) != 0;
  static const char* const kNames[] = {"finger", "thumb", "index finger", "middle finger", "ring finger", "little finger"};
  const unsigned which = static_cast<unsigned>(position >> 2);  // thumb 1 ... little finger 5
  return fmt::format("{} {}", left ? "left" : "right", which < 6 ? kNames[which] : "finger");
}

constexpr char kCloseSessionKey = 0x1d;  // Ctrl-]
constexpr std::uint16_t kKeyRelease = 0x8000;
constexpr std::uint16_t kLeftShift = 0x2A;

struct Scancode {
  std::uint16_t code = 0;
  bool shift = false;
};

/// The console's characters as set-1 scancodes of a US keyboard (what the box's console can
/// type; the display adapter sends real key events).
std::optional<Scancode> scancode_for(char key) {
  static constexpr std::string_view rows[] = {"1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"};
  static constexpr std::uint16_t row_start[] = {0x02, 0x10, 0x1E, 0x2C};
  const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(key)));
  const bool upper = std::isupper(static_cast<unsigned char>(key)) != 0;
  for (std::size_t row = 0; row < 4; ++row) {
    if (auto at = rows[row].find(lower); at != std::string_view::npos) {
      return Scancode{static_cast<std::uint16_t>(row_start[row] + at), upper};
    }
  }
  if (key == ' ') return Scancode{0x39, false};
  if (key == '\r' || key == '\n') return Scancode{0x1C, false};
  if (key == 0x7f || key == 0x08) return Scancode{0x0E, false};
  if (key == '\t') return Scancode{0x0F, false};
  return std::nullopt;
}

class LoginMachineImpl final : public LoginMachine {
 public:
  explicit LoginMachineImpl(Config config)
      : config_(std::move(config)), retry_timer_(config_.executor), keepalive_timer_(config_.executor) {}

  void start() override {
    config_.reader->watch([this](const CardEvent& event) {
      if (event.kind == CardEvent::Kind::inserted) on_card_inserted();
      else on_card_removed();
    });
    spawn(connect_loop());
  }

  void stop() override {
    stopped_ = true;
    close_view("disconnect");
    retry_timer_.cancel();
    keepalive_timer_.cancel();
    config_.reader->stop();
    config_.sensor->cancel();
    config_.tunnel->close();
  }

  void on_key(char key) override {
    if (state_ == State::desktop) {
      desktop_key(key);
      return;
    }
    if (state_ != State::pin && state_ != State::choosing) return;
    if (key == '\r' || key == '\n') {
      std::string entered = std::move(input_);
      input_.clear();
      if (state_ == State::pin) submit_pin(entered);
      else submit_choice(entered);
      secure_wipe(entered);
      return;
    }
    if (key == 0x7f || key == 0x08) {
      if (!input_.empty()) input_.pop_back();
    } else if (std::isprint(static_cast<unsigned char>(key)) != 0 && input_.size() < 16) {
      input_.push_back(key);
    } else {
      return;
    }
    config_.screen->show_input(view_.masked ? std::string(input_.size(), '*') : input_);
  }

  [[nodiscard]] State state() const override { return state_; }
  [[nodiscard]] const ScreenView& view() const override { return view_; }
  [[nodiscard]] const Json& session() const override { return session_; }

 private:
  void spawn(asio::awaitable<void> work) {
    asio::co_spawn(config_.executor, std::move(work), [](const std::exception_ptr& failure) {
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        log::component("login")->error("login coroutine failed: {}", error.what());
      }
    });
  }

  void show(State state, ScreenView view) {
    state_ = state;
    view_ = std::move(view);
    input_.clear();
    log::component("login")->info("screen {}", log::Fields().add("state", to_string(state)).add("title", view_.title));
    config_.screen->show(view_);
  }

  void show_ready() {
    show(State::ready, {"You may connect", {"Insert your card."}, "", false, Tone::info});
  }

  void card_problem(std::vector<std::string> lines) {
    lines.emplace_back("Remove your card.");
    show(State::card_problem, {"Cannot log in", std::move(lines), "", false, Tone::problem});
  }

  /// The login steps after the card: whatever was going on is dropped.
  void forget_card() {
    ++generation_;
    card_.reset();
    channel_.reset();
    certificate_.clear();
    card_serial_.clear();
    projects_ = Json::array();
    project_.clear();
    challenge_.clear();
    references_.clear();
    input_.clear();
  }

  // ---- tunnel ----

  asio::awaitable<void> connect_loop() {
    while (!stopped_) {
      tunnel_up_ = false;
      show(State::connecting, {"Connecting to the broker...", {}, "", false, Tone::info});
      auto hello = co_await config_.tunnel->connect();
      if (stopped_) co_return;
      if (!hello) {
        show(State::broker_unreachable,
             {"The broker cannot be reached",
              {hello.error().message, fmt::format("Retrying in {} s.", seconds(config_.settings.retry_interval))},
              "", false, Tone::problem});
        co_await wait(config_.settings.retry_interval);
        continue;
      }
      if (hello->type == FrameType::refusal) {
        show(State::box_refused,
             {"This box may not connect",
              {hello->body.value("message", "The broker refused this box."),
               fmt::format("Retrying in {} s.", seconds(config_.settings.refused_retry_interval))},
              "", false, Tone::problem});
        co_await wait(config_.settings.refused_retry_interval);
        continue;
      }
      if (hello->type != FrameType::hello) {
        config_.tunnel->close();
        continue;
      }
      box_name_ = hello->body.value("box", "");
      keepalive_ = std::chrono::seconds(std::max<std::int64_t>(1, hello->body.value("keepalive_s", 20)));
      tunnel_up_ = true;
      spawn(keepalive_loop(++tunnel_generation_));
      if (card_present_) start_card();
      else show_ready();
      co_return;
    }
  }

  static long long seconds(std::chrono::milliseconds interval) {
    return std::chrono::duration_cast<std::chrono::seconds>(interval).count();
  }

  asio::awaitable<void> wait(std::chrono::milliseconds interval) {
    retry_timer_.expires_after(interval);
    (void)co_await retry_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  asio::awaitable<void> keepalive_loop(std::uint64_t tunnel) {
    while (!stopped_ && tunnel == tunnel_generation_ && tunnel_up_) {
      keepalive_timer_.expires_after(keepalive_);
      (void)co_await keepalive_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopped_ || tunnel != tunnel_generation_ || !tunnel_up_) continue;
      const Frame ping{FrameType::ping, Json::object()};
      if (desktop_view_) {
        // During a view the link reads (and drops) the pong; the tunnel's writer keeps frames whole.
        auto sent = co_await config_.tunnel->send(ping);
        if (!sent) tunnel_lost(sent.error().message);
        continue;
      }
      if (busy_) continue;
      busy_ = true;
      auto sent = co_await config_.tunnel->send(ping);
      busy_ = false;
      if (!sent) tunnel_lost(sent.error().message);
    }
  }

  void tunnel_lost(const std::string& why) {
    if (!tunnel_up_) return;
    log::component("login")->warn("tunnel lost {}", log::Fields().add("reason", why));
    tunnel_up_ = false;
    ++tunnel_generation_;
    forget_card();
    config_.sensor->cancel();
    config_.tunnel->close();
    spawn(connect_loop());
  }

  /// Sends a frame for the audit (no answer); skipped when a request is on the wire.
  void report(Json event) {
    if (!tunnel_up_ || busy_) return;
    if (!card_serial_.empty()) event["card_serial"] = card_serial_;
    spawn(send_event(Frame{FrameType::login_event, std::move(event)}));
  }

  asio::awaitable<void> send_event(Frame frame) {
    busy_ = true;
    auto sent = co_await config_.tunnel->send(frame);
    busy_ = false;
    if (!sent) tunnel_lost(sent.error().message);
  }

  /// One request to the broker for the login at `generation`; nothing when the card has gone
  /// meanwhile or the tunnel broke (then the machine has already moved on).
  asio::awaitable<std::optional<Frame>> ask(Frame frame, std::uint64_t generation) {
    while (busy_) {  // a keepalive or an event is being written
      asio::steady_timer pause(config_.executor, std::chrono::milliseconds(5));
      (void)co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    busy_ = true;
    auto answer = co_await config_.tunnel->request(frame);
    busy_ = false;
    if (!answer) {
      tunnel_lost(answer.error().message);
      co_return std::nullopt;
    }
    if (generation != generation_) co_return std::nullopt;
    co_return std::move(*answer);
  }

  // ---- card ----

  void on_card_inserted() {
    card_present_ = true;
    if (tunnel_up_ && state_ == State::ready) start_card();
  }

  void on_card_removed() {
    card_present_ = false;
    if (desktop_view_) {
      // The local client goes first (its socket is cut, its thread joined), then the broker is told.
      const auto started = std::chrono::steady_clock::now();
      close_view("disconnect");
      log::component("login")->info("desktop view closed on card removal {}",
                                     log::Fields().add("ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                 std::chrono::steady_clock::now() - started)
                                                                 .count()));
    }
    const bool in_login = state_ != State::ready && state_ != State::connecting &&
                          state_ != State::broker_unreachable && state_ != State::box_refused;
    if (state_ == State::finger) config_.sensor->cancel();
    if (in_login) report({{"event", "card_removed"}});
    forget_card();
    if (tunnel_up_) show_ready();
  }

  void start_card() {
    forget_card();
    auto channel = config_.reader->connect();
    if (!channel) {
      card_problem({"The card cannot be read.", channel.error().message});
      return;
    }
    channel_ = std::move(*channel);
    card_.emplace(*channel_);
    Status selected = card_->select();
    Result<Bytes> certificate = selected ? card_->read_certificate(piv::key::kAuthentication)
                                         : Result<Bytes>(selected.error());
    if (!certificate) {
      card_problem({"This is not an SD-Box card, or it has no certificate.", certificate.error().message});
      return;
    }
    certificate_ = *certificate;
    if (auto parsed = crypto::certificate_from_der(certificate_)) {
      card_serial_ = crypto::certificate_serial_hex(**parsed);
    }
    ask_pin({"Type your PIN, then Enter."});
  }

  void ask_pin(std::vector<std::string> lines, Tone tone = Tone::info) {
    show(State::pin, {"Enter your PIN", std::move(lines), "PIN: ", true, tone});
  }

  void submit_pin(const std::string& pin) {
    if (!check_pin_format(pin)) {
      ask_pin({"A PIN is 6 to 8 digits. Nothing was sent to the card."}, Tone::problem);
      return;
    }
    auto check = card_->verify_pin(pin);
    if (!check) {
      card_problem({"The card did not answer.", check.error().message});
      return;
    }
    switch (check->outcome) {
      case PinCheck::Outcome::wrong:
        report({{"event", "pin_wrong"}, {"tries_left", check->tries_left}});
        ask_pin({fmt::format("Wrong PIN: {} {} left.", check->tries_left, check->tries_left == 1 ? "try" : "tries")},
                Tone::problem);
        return;
      case PinCheck::Outcome::blocked:
        report({{"event", "pin_blocked"}, {"tries_left", 0}});
        card_problem({"This card is blocked: too many wrong PINs.",
                      "Your IT administrator can unblock it with the PUK."});
        return;
      case PinCheck::Outcome::accepted: break;
    }
    show(State::checking, {"Checking your card...", {}, "", false, Tone::info});
    spawn(check_card(generation_));
  }

  asio::awaitable<void> check_card(std::uint64_t generation) {
    // Frames are built before co_await: g++ 12 cannot keep literal temporaries across a suspension.
    const Frame begin{FrameType::login_begin, {{"certificate", to_hex(certificate_)}}};
    auto answer = co_await ask(begin, generation);
    if (!answer) co_return;
    if (answer->type == FrameType::refusal) {
      card_problem({answer->body.value("message", "The broker refused this card.")});
      co_return;
    }
    if (answer->type != FrameType::projects || !answer->body.contains("projects") ||
        !answer->body.at("projects").is_array() || answer->body.at("projects").empty()) {
      card_problem({"The broker's answer was not understood."});
      co_return;
    }
    projects_ = answer->body.at("projects");
    std::vector<std::string> lines = {fmt::format("Hello {}. Your projects today:", answer->body.value("name", ""))};
    for (std::size_t i = 0; i < projects_.size(); ++i) {
      lines.push_back(fmt::format("  {}) {} ({})", i + 1, projects_[i].value("title", ""), projects_[i].value("name", "")));
    }
    show(State::choosing, {"Choose a project", std::move(lines), "Project number: ", false, Tone::info});
  }

  void submit_choice(const std::string& typed) {
    std::size_t choice = 0;
    for (char c : typed) {
      if (std::isdigit(static_cast<unsigned char>(c)) == 0 || choice > 1000) {
        choice = 0;
        break;
      }
      choice = choice * 10 + static_cast<std::size_t>(c - '0');
    }
    if (choice < 1 || choice > projects_.size()) {
      auto view = view_;
      view.lines.push_back(fmt::format("Type a number from 1 to {}.", projects_.size()));
      view.tone = Tone::problem;
      show(State::choosing, std::move(view));
      return;
    }
    project_ = projects_[choice - 1].value("name", "");
    show(State::checking, {"Opening " + project_ + "...", {}, "", false, Tone::info});
    spawn(choose(generation_));
  }

  asio::awaitable<void> choose(std::uint64_t generation) {
    const Frame choice{FrameType::choose_project, {{"project", project_}}};
    auto answer = co_await ask(choice, generation);
    if (!answer) co_return;
    if (answer->type == FrameType::refusal) {
      card_problem({answer->body.value("message", "The broker refused this project.")});
      co_return;
    }
    Bytes challenge;
    if (answer->type != FrameType::challenge || !from_hex(answer->body.value("challenge", ""), challenge) ||
        challenge.size() != login::kChallengeSize) {
      card_problem({"The broker's answer was not understood."});
      co_return;
    }
    challenge_ = std::move(challenge);
    auto references = card_->finger_references();
    if (!references || references->empty()) {
      card_problem({"No fingerprint is enrolled on this card.", "Your IT administrator enrols it."});
      co_return;
    }
    references_ = *references;
    ask_finger({});
  }

  void ask_finger(std::vector<std::string> lines, Tone tone = Tone::info) {
    std::string fingers = finger_name(references_.front().finger_position);
    if (references_.size() > 1) fingers += " or " + finger_name(references_.back().finger_position);
    lines.insert(lines.begin(), "Put your " + fingers + " on the sensor.");
    show(State::finger, {"Fingerprint", std::move(lines), "", false, tone});
    const auto generation = generation_;
    config_.sensor->capture([this, generation](Result<GrayImage> image) {
      if (generation != generation_ || state_ != State::finger) return;
      on_capture(std::move(image));
    });
  }

  void on_capture(Result<GrayImage> image) {
    if (!image) {
      ask_finger({"The sensor did not capture a finger; try again."}, Tone::problem);
      return;
    }
    if (image->dpi <= 0) image->dpi = config_.settings.sensor_dpi;
    auto extraction = extract_minutiae(*image);
    for (const auto& reference : references_) {
      auto probe = extraction ? finger::to_card_template(extraction->minutiae, reference)
                              : Result<std::vector<finger::CompactMinutia>>(extraction.error());
      if (!probe) {
        // Too few usable minutiae: the card is not asked, no try is spent.
        ask_finger({"The finger could not be read clearly: put it flat on the sensor again."}, Tone::problem);
        return;
      }
      auto check = card_->verify_finger(reference.key_reference, *probe);
      if (!check) {
        card_problem({"The card did not answer.", check.error().message});
        return;
      }
      if (check->outcome == PinCheck::Outcome::accepted) {
        show(State::connecting_session, {"Connecting...", {"Opening " + project_ + "."}, "", false, Tone::info});
        spawn(prove(generation_));
        return;
      }
      if (check->outcome == PinCheck::Outcome::blocked) {
        report({{"event", "finger_blocked"}, {"tries_left", 0}});
        card_problem({"Fingerprint blocked on this card: too many failed attempts.",
                      "Your IT administrator can reset it."});
        return;
      }
      report({{"event", "finger_wrong"}, {"tries_left", check->tries_left}});
      if (&reference == &references_.back()) {
        ask_finger({fmt::format("Finger not recognised: {} {} left.", check->tries_left,
                                check->tries_left == 1 ? "try" : "tries")},
                   Tone::problem);
        return;
      }
    }
  }

  asio::awaitable<void> prove(std::uint64_t generation) {
    const Bytes digest = login::proof_digest(challenge_, config_.tunnel->exporter(), box_name_, project_);
    auto signature = card_->sign_digest(piv::key::kAuthentication, piv::alg::kEccP256, digest);
    if (!signature) {
      card_problem({"The card refused to sign.", signature.error().message});
      co_return;
    }
    const Frame proof{FrameType::login_proof, {{"signature", to_hex(*signature)}}};
    auto answer = co_await ask(proof, generation);
    if (!answer) co_return;
    if (answer->type == FrameType::refusal) {
      card_problem({answer->body.value("message", "The broker refused the login.")});
      co_return;
    }
    if (answer->type != FrameType::session_ready) {
      card_problem({"The broker's answer was not understood."});
      co_return;
    }
    session_ = answer->body;
    const auto& desktop = session_.value("desktop", Json::object());
    show(State::session_ready,
         {"Session ready",
          {fmt::format("Project {}: desktop {}:{}.", session_.value("project", ""), desktop.value("host", ""),
                       desktop.value("port", 0)),
           "Pull your card to leave."},
          "", false, Tone::success});
    open_view(generation);
  }

  // ---- desktop ----

  /// Relays the desktop stream through the tunnel and starts the RDP client on it.
  void open_view(std::uint64_t generation) {
    if (config_.rdp == nullptr) return;
    const auto gateway = session_.value("gateway", Json::object());
    auto link = DesktopLink::create({config_.executor, config_.tunnel, config_.desktop_socket});
    if (!link) {
      card_problem({"The desktop cannot be opened.", link.error().message});
      return;
    }
    desktop_view_ = *link;
    busy_ = true;  // the link is the tunnel's reader now; keepalives still go through the writer
    spawn(run_view(*link, generation));
    config_.rdp->start({config_.desktop_socket, gateway.value("user", ""), gateway.value("password", ""),
                        gateway.value("certificate_sha256", "")},
                       {[this, generation] {
                          if (generation != generation_ || !desktop_view_) return;
                          show(State::desktop, {"Desktop", {fmt::format("Project {}.", session_.value("project", "")),
                                                            "Pull your card to leave."},
                                                "", false, Tone::success});
                        },
                        [this, generation](const std::string& why) {
                          if (generation != generation_ || !desktop_view_) return;
                          log::component("login")->warn("desktop client ended {}", log::Fields().add("reason", why));
                          view_problem_ = "The desktop client stopped: " + why;
                          desktop_view_->close("disconnect");
                        }});
  }

  asio::awaitable<void> run_view(std::shared_ptr<DesktopLink> link, std::uint64_t generation) {
    auto ended = co_await link->run();
    if (desktop_view_ == link) {
      config_.rdp->stop();
      desktop_view_.reset();
    }
    busy_ = false;
    if (!ended) {
      tunnel_lost(ended.error().message);
      co_return;
    }
    if (ended->by_box && view_problem_.empty()) co_return;  // card pulled: already back to "You may connect"
    if (stopped_ || !tunnel_up_) co_return;
    std::vector<std::string> lines;
    if (!view_problem_.empty()) lines.push_back(std::exchange(view_problem_, ""));
    if (!ended->by_box) lines.push_back(ended->message.empty() ? "The desktop session has ended." : ended->message);
    (void)generation;
    forget_card();
    if (card_present_) {
      card_problem(std::move(lines));
    } else {
      lines.emplace_back("Insert your card.");
      show(State::ready, {"You may connect", std::move(lines), "", false, Tone::info});
    }
  }

  /// In the desktop, keys go to it (press and release); Ctrl-] is "Close session" (a logoff).
  void desktop_key(char key) {
    if (key == kCloseSessionKey) {
      log::component("login")->info("close session asked {}", log::Fields().add("project", session_.value("project", "")));
      close_view("logoff");
      forget_card();
      show(State::card_problem, {"Session closed", {"Your desktop session was closed.", "Remove your card."}, "", false, Tone::info});
      return;
    }
    auto scancode = scancode_for(key);
    if (!scancode || config_.rdp == nullptr) return;
    if (scancode->shift) config_.rdp->send_key(0, kLeftShift);
    config_.rdp->send_key(0, scancode->code);
    config_.rdp->send_key(kKeyRelease, scancode->code);
    if (scancode->shift) config_.rdp->send_key(kKeyRelease, kLeftShift);
  }

  void close_view(const std::string& action) {
    if (!desktop_view_) return;
    desktop_view_->close(action);  // cuts the local client's socket at once
    config_.rdp->stop();
  }

  Config config_;
  State state_ = State::connecting;
  ScreenView view_;
  std::string input_;
  bool stopped_ = false;
  bool tunnel_up_ = false;
  bool busy_ = false;
  bool card_present_ = false;
  std::uint64_t generation_ = 0;
  std::uint64_t tunnel_generation_ = 0;
  std::chrono::seconds keepalive_{20};
  asio::steady_timer retry_timer_;
  asio::steady_timer keepalive_timer_;
  std::string box_name_;
  std::unique_ptr<CardChannel> channel_;
  std::optional<PivClient> card_;
  Bytes certificate_;
  std::string card_serial_;
  Json projects_ = Json::array();
  std::string project_;
  Bytes challenge_;
  std::vector<finger::CardTemplateRules> references_;
  Json session_ = Json::object();
  std::shared_ptr<DesktopLink> desktop_view_;  ///< the open desktop view, if any
  std::string view_problem_;
};

}  // namespace

std::unique_ptr<LoginMachine> LoginMachine::create(Config config) {
  if (config.reader == nullptr || config.sensor == nullptr || config.tunnel == nullptr || config.screen == nullptr) {
    throw std::invalid_argument("LoginMachine needs a reader, a sensor, a tunnel and a screen");
  }
  return std::make_unique<LoginMachineImpl>(std::move(config));
}

}  // namespace sdbox::firmware
