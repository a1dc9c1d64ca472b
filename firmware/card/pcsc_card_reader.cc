#include "card/pcsc_card_reader.hpp"

#include "sdbox/common/log.hpp"

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <thread>
#include <type_traits>
#include <vector>

namespace sdbox::firmware {

static_assert(std::is_same_v<SCARDCONTEXT, long>, "SCARDCONTEXT is kept as long in the header");

namespace {

constexpr const char* kPnpNotification = R"(\\?PnP?\Notification)";
constexpr DWORD kWatchSliceMs = 500;

Error pcsc_error(std::string_view what, LONG code) {
  return make_error(ErrorCategory::pcsc, fmt::format("{}: {}", what, describe_pcsc(code)), code);
}

/// An SCARDCONTEXT released on scope exit.
class Context {
 public:
  static Result<Context> establish() {
    SCARDCONTEXT handle = 0;
    const LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &handle);
    if (rc != SCARD_S_SUCCESS) return pcsc_error("cannot reach pcscd", rc);
    return Context(handle);
  }
  Context(Context&& other) noexcept : handle_(other.handle_) { other.handle_ = 0; }
  Context& operator=(Context&&) = delete;
  Context(const Context&) = delete;
  ~Context() {
    if (handle_ != 0) SCardReleaseContext(handle_);
  }
  [[nodiscard]] SCARDCONTEXT get() const { return handle_; }

 private:
  explicit Context(SCARDCONTEXT handle) : handle_(handle) {}
  SCARDCONTEXT handle_;
};

Result<std::vector<std::string>> list_readers(SCARDCONTEXT context) {
  DWORD size = 0;
  LONG rc = SCardListReaders(context, nullptr, nullptr, &size);
  if (rc == SCARD_E_NO_READERS_AVAILABLE) return std::vector<std::string>{};
  if (rc != SCARD_S_SUCCESS) return pcsc_error("cannot list readers", rc);
  std::string buffer(size, '\0');
  rc = SCardListReaders(context, nullptr, buffer.data(), &size);
  if (rc == SCARD_E_NO_READERS_AVAILABLE) return std::vector<std::string>{};
  if (rc != SCARD_S_SUCCESS) return pcsc_error("cannot list readers", rc);
  std::vector<std::string> readers;
  for (std::size_t at = 0; at < buffer.size() && buffer[at] != '\0';) {
    std::string name(buffer.c_str() + at);
    at += name.size() + 1;
    readers.push_back(std::move(name));
  }
  return readers;
}

Result<std::string> find_reader(SCARDCONTEXT context, const std::string& prefix) {
  auto readers = list_readers(context);
  if (!readers) return readers.error();
  for (const auto& reader : *readers) {
    if (reader.rfind(prefix, 0) == 0) return reader;
  }
  return make_error(ErrorCategory::pcsc, prefix.empty() ? "no card reader" : fmt::format("no reader named {}", prefix),
                    SCARD_E_UNKNOWN_READER);
}

class PcscChannel final : public CardChannel {
 public:
  PcscChannel(Context context, SCARDHANDLE card, DWORD protocol, bool reset_on_disconnect)
      : context_(std::move(context)), card_(card), protocol_(protocol), reset_on_disconnect_(reset_on_disconnect) {}
  ~PcscChannel() override { SCardDisconnect(card_, reset_on_disconnect_ ? SCARD_RESET_CARD : SCARD_LEAVE_CARD); }
  PcscChannel(const PcscChannel&) = delete;
  PcscChannel& operator=(const PcscChannel&) = delete;

  Result<Bytes> transmit(ByteView command) override {
    const SCARD_IO_REQUEST* pci = protocol_ == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    Bytes response(apdu::kExtendedMaxNe + 2);
    DWORD length = static_cast<DWORD>(response.size());
    const LONG rc = SCardTransmit(card_, pci, command.data(), static_cast<DWORD>(command.size()), nullptr,
                                  response.data(), &length);
    if (rc != SCARD_S_SUCCESS) return pcsc_error("card exchange failed", rc);
    response.resize(length);
    return response;
  }

  bool present() override {
    DWORD state = 0;
    DWORD protocol = 0;
    DWORD atr_length = MAX_ATR_SIZE;
    BYTE atr[MAX_ATR_SIZE];
    char name[256];
    DWORD name_length = sizeof name;
    const LONG rc = SCardStatus(card_, name, &name_length, &state, &protocol, atr, &atr_length);
    return rc == SCARD_S_SUCCESS && (state & SCARD_PRESENT) != 0;
  }

 private:
  Context context_;
  SCARDHANDLE card_;
  DWORD protocol_;
  bool reset_on_disconnect_;
};

}  // namespace

std::string describe_pcsc(long code) {
  return fmt::format("{} (0x{:08X})", pcsc_stringify_error(static_cast<LONG>(code)), static_cast<unsigned long>(code));
}

std::unique_ptr<PcscCardReader> PcscCardReader::create(Config config) {
  return std::unique_ptr<PcscCardReader>(new PcscCardReader(std::move(config)));
}

PcscCardReader::~PcscCardReader() { stop(); }

void PcscCardReader::watch(EventHandler handler) {
  stop();
  stopping_ = false;
  thread_ = std::thread([this, handler = std::move(handler)] { monitor(handler); });
}

void PcscCardReader::stop() {
  stopping_ = true;
  {
    std::lock_guard lock(context_mutex_);
    if (monitor_context_valid_) SCardCancel(monitor_context_);
  }
  if (thread_.joinable()) thread_.join();
}

void PcscCardReader::monitor(EventHandler handler) {
  auto logger = log::component("pcsc");
  bool card_present = false;
  std::string current_reader;
  auto post = [&](CardEvent::Kind kind, const std::string& reader, Bytes atr) {
    CardEvent event{kind, reader, std::move(atr), std::chrono::steady_clock::now()};
    boost::asio::post(config_.executor, [handler, event] { handler(event); });
  };

  while (!stopping_) {
    auto context = Context::establish();
    if (!context) {
      logger->warn("pcscd unreachable, retrying {}", log::Fields().add("error", context.error().describe()));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    {
      std::lock_guard lock(context_mutex_);
      monitor_context_ = context->get();
      monitor_context_valid_ = true;
    }
    if (stopping_) break;  // stop() ran before the context could be cancelled

    // Track our reader plus the PnP pseudo-reader, which changes when readers come and go.
    std::vector<SCARD_READERSTATE> states(2);
    states[0].szReader = kPnpNotification;
    states[0].dwCurrentState = SCARD_STATE_UNAWARE;
    bool restart = false;
    while (!stopping_ && !restart) {
      auto reader = find_reader(context->get(), config_.reader_prefix);
      const std::size_t count = reader ? 2 : 1;
      if (reader && *reader != current_reader) {
        current_reader = *reader;
        states[1].dwCurrentState = SCARD_STATE_UNAWARE;
      }
      if (!reader && card_present) {  // the reader itself went away with the card in it
        card_present = false;
        post(CardEvent::Kind::removed, current_reader, {});
      }
      states[1].szReader = current_reader.c_str();
      // Bounded wait: SCardCancel only interrupts a call already in progress, so a stop that
      // lands just before this call is noticed at the next timeout.
      const LONG rc = SCardGetStatusChange(context->get(), kWatchSliceMs, states.data(), static_cast<DWORD>(count));
      if (rc == SCARD_E_CANCELLED || stopping_) break;
      if (rc == SCARD_E_TIMEOUT) continue;
      if (rc != SCARD_S_SUCCESS) {
        logger->warn("reader watch interrupted {}", log::Fields().add("error", describe_pcsc(rc)));
        restart = true;
        break;
      }
      states[0].dwCurrentState = states[0].dwEventState & ~SCARD_STATE_CHANGED;
      if (count == 2) {
        const DWORD event_state = states[1].dwEventState;
        states[1].dwCurrentState = event_state & ~SCARD_STATE_CHANGED;
        const bool present_now = (event_state & SCARD_STATE_PRESENT) != 0 && (event_state & SCARD_STATE_MUTE) == 0;
        if (present_now != card_present) {
          card_present = present_now;
          Bytes atr;
          if (present_now) atr.assign(states[1].rgbAtr, states[1].rgbAtr + states[1].cbAtr);
          post(present_now ? CardEvent::Kind::inserted : CardEvent::Kind::removed, current_reader, std::move(atr));
        }
      }
    }
    {
      std::lock_guard lock(context_mutex_);
      monitor_context_valid_ = false;
    }
    if (restart && !stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Result<std::unique_ptr<CardChannel>> PcscCardReader::connect() {
  auto context = Context::establish();
  if (!context) return context.error();
  auto reader = find_reader(context->get(), config_.reader_prefix);
  if (!reader) return reader.error();
  SCARDHANDLE card = 0;
  DWORD protocol = 0;
  const LONG rc = SCardConnect(context->get(), reader->c_str(), config_.exclusive ? SCARD_SHARE_EXCLUSIVE : SCARD_SHARE_SHARED,
                               SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &protocol);
  if (rc != SCARD_S_SUCCESS) return pcsc_error("cannot connect to the card", rc);
  return std::unique_ptr<CardChannel>(std::make_unique<PcscChannel>(std::move(*context), card, protocol, config_.reset_on_disconnect));
}

Status PcscCardReader::wait_for_card(bool present, std::chrono::milliseconds timeout) {
  auto context = Context::establish();
  if (!context) return context.error();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto reader = find_reader(context->get(), config_.reader_prefix);
    if (reader) {
      SCARD_READERSTATE state{};
      state.szReader = reader->c_str();
      state.dwCurrentState = SCARD_STATE_UNAWARE;
      const LONG rc = SCardGetStatusChange(context->get(), 0, &state, 1);
      if (rc == SCARD_S_SUCCESS && ((state.dwEventState & SCARD_STATE_PRESENT) != 0) == present) return {};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorCategory::pcsc, present ? "no card inserted in time" : "card not removed in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace sdbox::firmware
