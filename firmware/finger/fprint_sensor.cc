#include "finger/fprint_sensor.hpp"

#include "sdbox/common/log.hpp"

#include <boost/asio/post.hpp>
#include <fprint.h>

#include <fmt/format.h>

#include <future>
#include <thread>

namespace sdbox::firmware {

struct FprintSensor::State {
  Config config;
  GMainContext* context = nullptr;
  GMainLoop* loop = nullptr;
  FpContext* fprint = nullptr;
  FpDevice* device = nullptr;  // owned by `fprint`'s device list
  GCancellable* cancellable = nullptr;
  std::thread thread;
  CaptureHandler pending;  // only touched on the GLib thread
};

namespace {

struct Invocation {
  FprintSensor::State* state;
  FingerprintSensor::CaptureHandler handler;
};

void deliver(FprintSensor::State& state, FingerprintSensor::CaptureHandler handler, Result<GrayImage> result) {
  boost::asio::post(state.config.executor,
                    [handler = std::move(handler), result = std::move(result)]() mutable { handler(std::move(result)); });
}

void on_captured(GObject* source, GAsyncResult* async_result, gpointer user_data) {
  auto* state = static_cast<FprintSensor::State*>(user_data);
  GError* error = nullptr;
  FpImage* image = fp_device_capture_finish(FP_DEVICE(source), async_result, &error);
  FingerprintSensor::CaptureHandler handler = std::move(state->pending);
  state->pending = nullptr;
  if (image == nullptr) {
    const bool cancelled = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    Error failure = make_error(ErrorCategory::io, cancelled ? "capture cancelled"
                                                            : fmt::format("capture failed: {}", error ? error->message : "?"));
    g_clear_error(&error);
    deliver(*state, std::move(handler), std::move(failure));
    return;
  }
  gsize length = 0;
  const guchar* data = fp_image_get_data(image, &length);
  const int width = static_cast<int>(fp_image_get_width(image));
  const int height = static_cast<int>(fp_image_get_height(image));
  GrayImage captured(width, height, state->config.dpi, 255);
  if (length == captured.pixels.size()) std::copy(data, data + length, captured.pixels.begin());
  g_object_unref(image);
  if (length != captured.pixels.size()) {
    deliver(*state, std::move(handler), make_error(ErrorCategory::io, "libfprint returned an image of inconsistent size"));
    return;
  }
  deliver(*state, std::move(handler), std::move(captured));
}

gboolean start_capture(gpointer user_data) {
  std::unique_ptr<Invocation> invocation(static_cast<Invocation*>(user_data));
  FprintSensor::State& state = *invocation->state;
  if (state.pending) {
    deliver(state, std::move(invocation->handler), make_error(ErrorCategory::usage, "a capture is already pending"));
    return G_SOURCE_REMOVE;
  }
  g_cancellable_reset(state.cancellable);
  state.pending = std::move(invocation->handler);
  fp_device_capture(state.device, TRUE, state.cancellable, on_captured, &state);
  return G_SOURCE_REMOVE;
}

gboolean cancel_capture(gpointer user_data) {
  g_cancellable_cancel(static_cast<FprintSensor::State*>(user_data)->cancellable);
  return G_SOURCE_REMOVE;
}

gboolean stop_loop(gpointer user_data) {
  auto* state = static_cast<FprintSensor::State*>(user_data);
  if (state->device != nullptr && fp_device_is_open(state->device)) fp_device_close_sync(state->device, nullptr, nullptr);
  g_main_loop_quit(state->loop);
  return G_SOURCE_REMOVE;
}

/// Runs `function` on the sensor thread: an idle source is dispatched only by the thread that
/// iterates the context (g_main_context_invoke could run it right here instead).
void run_on_sensor_thread(GMainContext* context, GSourceFunc function, gpointer data) {
  GSource* source = g_idle_source_new();
  g_source_set_callback(source, function, data, nullptr);
  g_source_attach(source, context);
  g_source_unref(source);
}

}  // namespace

Result<std::unique_ptr<FprintSensor>> FprintSensor::create(Config config) {
  auto state = std::make_unique<State>();
  state->config = std::move(config);
  // libfprint enumerates devices by iterating GLib's global default context, so the sensor
  // thread owns that context: one libfprint sensor per process, and nothing else may iterate it.
  state->context = g_main_context_ref(g_main_context_default());
  state->loop = g_main_loop_new(state->context, FALSE);
  state->cancellable = g_cancellable_new();
  std::promise<Status> opened;
  auto ready = opened.get_future();
  State* raw = state.get();
  state->thread = std::thread([raw, &opened] {
    raw->fprint = fp_context_new();
    GPtrArray* devices = fp_context_get_devices(raw->fprint);
    if (devices == nullptr || devices->len == 0) {
      opened.set_value(make_error(ErrorCategory::io, "no fingerprint sensor found"));
    } else {
      raw->device = FP_DEVICE(g_ptr_array_index(devices, 0));
      GError* error = nullptr;
      if (!fp_device_open_sync(raw->device, nullptr, &error)) {
        opened.set_value(make_error(ErrorCategory::io, fmt::format("cannot open the fingerprint sensor: {}",
                                                                   error ? error->message : "?")));
        g_clear_error(&error);
        raw->device = nullptr;
      } else {
        log::component("finger")->info("sensor open {}", log::Fields().add("driver", fp_device_get_driver(raw->device)));
        opened.set_value(Status{});
      }
    }
    if (raw->device != nullptr) g_main_loop_run(raw->loop);
    g_clear_object(&raw->fprint);
  });
  auto status = ready.get();
  if (!status) {
    state->thread.join();
    g_main_loop_unref(state->loop);
    g_main_context_unref(state->context);
    g_object_unref(state->cancellable);
    return status.error();
  }
  return std::unique_ptr<FprintSensor>(new FprintSensor(std::move(state)));
}

FprintSensor::FprintSensor(std::unique_ptr<State> state) : state_(std::move(state)) {}

FprintSensor::~FprintSensor() {
  // Idle sources run in order: a pending capture is cancelled before the device closes.
  run_on_sensor_thread(state_->context, cancel_capture, state_.get());
  run_on_sensor_thread(state_->context, stop_loop, state_.get());
  state_->thread.join();
  g_main_loop_unref(state_->loop);
  g_main_context_unref(state_->context);
  g_object_unref(state_->cancellable);
}

void FprintSensor::capture(CaptureHandler on_done) {
  run_on_sensor_thread(state_->context, start_capture, new Invocation{state_.get(), std::move(on_done)});
}

// libfprint reacts to cancellation on its own thread only.
void FprintSensor::cancel() { run_on_sensor_thread(state_->context, cancel_capture, state_.get()); }

}  // namespace sdbox::firmware
