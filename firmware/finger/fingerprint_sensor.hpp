#pragma once

#include "sdbox/common/image.hpp"
#include "sdbox/common/result.hpp"

#include <functional>

namespace sdbox::firmware {

/// The box's fingerprint sensor role.
class FingerprintSensor {
 public:
  using CaptureHandler = std::function<void(Result<GrayImage>)>;

  virtual ~FingerprintSensor() = default;

  /// Waits for a finger and captures one image. `on_done` runs on the executor the sensor was
  /// created with, never on the sensor's own thread; one capture at a time.
  virtual void capture(CaptureHandler on_done) = 0;

  /// Ends a pending capture, which then completes with an error.
  virtual void cancel() = 0;
};

}  // namespace sdbox::firmware
