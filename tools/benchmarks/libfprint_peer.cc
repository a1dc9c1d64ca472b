#include "libfprint_peer.hpp"

#include "virtual_image_feeder.hpp"

#include <fprint.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace sdbox::bench {

namespace {

using Clock = std::chrono::steady_clock;

/// libfprint reads the socket only while its main context iterates, so images are written from
/// this thread: a large image would otherwise block the writer that the reader waits for.
class FingerThread {
 public:
  explicit FingerThread(fingerfeed::VirtualImageFeeder feeder)
      : feeder_(std::move(feeder)), thread_([this] { run(); }) {}
  FingerThread(const FingerThread&) = delete;
  FingerThread& operator=(const FingerThread&) = delete;
  ~FingerThread() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  void show(const GrayImage& image) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(&image);
    }
    wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      const GrayImage* image = queue_.front();
      queue_.pop_front();
      lock.unlock();
      (void)feeder_.send_image(*image);  // a refused send shows up as an operation that times out
      lock.lock();
    }
  }

  fingerfeed::VirtualImageFeeder feeder_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<const GrayImage*> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

constexpr int kMaxTouchesPerOperation = 10;  // enrolment stages plus the retries libfprint may ask for
constexpr auto kOperationPatience = std::chrono::seconds(20);

/// One enrolment or verification: the finger shows `shown` whenever the device asks for it.
struct Operation {
  FingerThread* finger = nullptr;
  const GrayImage* shown = nullptr;
  GCancellable* cancellable = nullptr;
  bool finger_needed = false;
  int touches = 0;
  bool done = false;
  FpPrint* enrolled = nullptr;
  gboolean matched = FALSE;
  bool retry = false;
  std::string error;
};

void on_finger_status(GObject* device, GParamSpec* /*unused*/, gpointer user_data) {
  auto* operation = *static_cast<Operation**>(user_data);
  const bool needed = (fp_device_get_finger_status(FP_DEVICE(device)) & FP_FINGER_STATUS_NEEDED) != 0;
  if (operation != nullptr && needed && !operation->finger_needed && !operation->done) {
    if (operation->touches < kMaxTouchesPerOperation) {
      ++operation->touches;
      operation->finger->show(*operation->shown);
    } else {
      g_cancellable_cancel(operation->cancellable);
    }
  }
  if (operation != nullptr) operation->finger_needed = needed;
}

void take_error(Operation& operation, GError* error) {
  if (error == nullptr) return;
  operation.retry = error->domain == FP_DEVICE_RETRY;
  operation.error = error->message;
  g_error_free(error);
}

void on_enrolled(GObject* device, GAsyncResult* result, gpointer user_data) {
  auto& operation = *static_cast<Operation*>(user_data);
  GError* error = nullptr;
  operation.enrolled = fp_device_enroll_finish(FP_DEVICE(device), result, &error);
  take_error(operation, error);
  operation.done = true;
}

void on_verified(GObject* device, GAsyncResult* result, gpointer user_data) {
  auto& operation = *static_cast<Operation*>(user_data);
  GError* error = nullptr;
  if (!fp_device_verify_finish(FP_DEVICE(device), result, &operation.matched, nullptr, &error)) operation.matched = FALSE;
  take_error(operation, error);
  operation.done = true;
}

gboolean wake_up(gpointer /*unused*/) { return G_SOURCE_CONTINUE; }

/// Iterates GLib's default context until `operation` completes, cancelling it when it stalls.
void wait_for(Operation& operation) {
  const guint ticker = g_timeout_add(100, wake_up, nullptr);
  const auto deadline = Clock::now() + kOperationPatience;
  while (!operation.done) {
    g_main_context_iteration(nullptr, TRUE);
    if (Clock::now() > deadline) g_cancellable_cancel(operation.cancellable);
  }
  g_source_remove(ticker);
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct DeviceSession {
  FpContext* context = nullptr;
  FpDevice* device = nullptr;
  gulong handler = 0;
  ~DeviceSession() {
    if (device != nullptr) {
      if (handler != 0) g_signal_handler_disconnect(device, handler);
      fp_device_close_sync(device, nullptr, nullptr);
    }
    if (context != nullptr) g_object_unref(context);
  }
};

}  // namespace

Result<PeerRates> measure_libfprint(const std::vector<PeerImage>& images, const std::filesystem::path& socket_dir) {
  const auto socket = socket_dir / "libfprint-peer.sock";
  // libfprint reads the variable when its context enumerates devices.
  ::setenv("FP_VIRTUAL_IMAGE", socket.c_str(), 1);
  DeviceSession session;
  session.context = fp_context_new();
  GPtrArray* devices = fp_context_get_devices(session.context);
  for (guint i = 0; devices != nullptr && i < devices->len; ++i) {
    auto* candidate = FP_DEVICE(g_ptr_array_index(devices, i));
    if (std::string_view(fp_device_get_driver(candidate)) == "virtual_image") session.device = candidate;
  }
  if (session.device == nullptr) return make_error(ErrorCategory::io, "libfprint offers no virtual_image device");
  GError* error = nullptr;
  if (!fp_device_open_sync(session.device, nullptr, &error)) {
    Error failure = make_error(ErrorCategory::io, fmt::format("libfprint cannot open virtual_image: {}", error->message));
    g_error_free(error);
    session.device = nullptr;
    return failure;
  }
  auto feeder = fingerfeed::VirtualImageFeeder::connect(socket, std::chrono::seconds(5));
  if (!feeder) return feeder.error();
  FingerThread finger(std::move(*feeder));

  Operation* current = nullptr;
  session.handler = g_signal_connect(session.device, "notify::finger-status", G_CALLBACK(on_finger_status), &current);

  auto run = [&](Operation& operation, const GrayImage& shown, auto start) {
    operation.finger = &finger;
    operation.shown = &shown;
    operation.cancellable = g_cancellable_new();
    operation.finger_needed = (fp_device_get_finger_status(session.device) & FP_FINGER_STATUS_NEEDED) != 0;
    current = &operation;
    start(operation);
    wait_for(operation);
    current = nullptr;
    g_object_unref(operation.cancellable);
  };

  std::map<int, FpPrint*> enrolled;  // finger -> libfprint's print of its first impression
  std::map<int, const PeerImage*> first_impression;
  for (const auto& image : images) {
    auto& first = first_impression[image.finger];
    if (first == nullptr || image.impression < first->impression) first = &image;
  }
  for (const auto& image : images) {
    if (first_impression.at(image.finger) != &image) continue;
    Operation operation;
    run(operation, *image.image, [&](Operation& op) {
      fp_device_enroll(session.device, fp_print_new(session.device), op.cancellable, nullptr, nullptr, nullptr,
                       on_enrolled, &op);
    });
    enrolled[image.finger] = operation.enrolled;  // null: libfprint failed to enrol this finger
  }

  PeerRates rates;
  std::size_t false_matches = 0, false_rejections = 0;
  std::vector<double> verify_ms;
  for (const auto& probe : images) {
    for (const auto& entry : enrolled) {
      const auto finger_id = entry.first;
      auto* const print = entry.second;
      if (first_impression.at(probe.finger) == &probe && finger_id == probe.finger) continue;  // the enrolled image itself
      const bool genuine = finger_id == probe.finger;
      bool matched = false;
      if (print != nullptr) {
        Operation operation;
        const auto start = Clock::now();
        run(operation, *probe.image, [&](Operation& op) {
          fp_device_verify(session.device, print, op.cancellable, nullptr, nullptr, nullptr, on_verified, &op);
        });
        verify_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        matched = operation.matched != FALSE;
        if (operation.retry) ++rates.retried_verifications;
      }
      if (genuine) {
        ++rates.genuine_attempts;
        if (!matched) ++false_rejections;
      } else {
        ++rates.impostor_attempts;
        if (matched) ++false_matches;
      }
    }
  }
  for (const auto& [finger_id, print] : enrolled) {
    if (print == nullptr) {
      ++rates.failed_enrolments;
    } else {
      g_object_unref(print);
    }
  }
  if (rates.genuine_attempts == 0 || rates.impostor_attempts == 0) {
    return make_error(ErrorCategory::usage, "libfprint peer: need two fingers with two impressions each");
  }
  rates.fmr = static_cast<double>(false_matches) / static_cast<double>(rates.impostor_attempts);
  rates.fnmr = static_cast<double>(false_rejections) / static_cast<double>(rates.genuine_attempts);
  rates.verify_ms_median = median(verify_ms);
  return rates;
}

}  // namespace sdbox::bench
