#pragma once

#include "finger/fingerprint_sensor.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace sdbox::firmware {

/// FingerprintSensor over libfprint. libfprint runs on GLib: the sensor's own thread iterates
/// GLib's default main context (libfprint's device enumeration requires that one, so there is
/// one sensor per process), and captured images are posted to the firmware's executor. The first device
/// libfprint finds is used; with FP_VIRTUAL_IMAGE=<socket> set before create(), that is the
/// virtual_image device fed through the socket (tests, demo).
class FprintSensor final : public FingerprintSensor {
 public:
  struct Config {
    boost::asio::any_io_executor executor;
    /// libfprint's virtual device does not know its resolution (ppmm 0): the caller says it.
    double dpi = 500;
  };

  static Result<std::unique_ptr<FprintSensor>> create(Config config);
  ~FprintSensor() override;

  void capture(CaptureHandler on_done) override;
  void cancel() override;

  struct State;  // GLib side, defined in the implementation

 private:
  explicit FprintSensor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sdbox::firmware
