#pragma once

#include "sdbox/common/image.hpp"
#include "sdbox/common/result.hpp"

#include <filesystem>
#include <vector>

namespace sdbox::bench {

struct PeerImage {
  int finger = 0;
  int impression = 0;
  const GrayImage* image = nullptr;
};

/// What libfprint's own matcher (NBIS mindtct + bozorth3 at its fixed threshold) does with the
/// same images, measured through its virtual_image device as a real sensor's images would be.
struct PeerRates {
  double fmr = 0;
  double fnmr = 0;
  std::size_t genuine_attempts = 0;
  std::size_t impostor_attempts = 0;
  std::size_t failed_enrolments = 0;  ///< fingers libfprint could not enrol: their genuine attempts count as rejected
  std::size_t retried_verifications = 0;  ///< probes libfprint asked to retry: counted as non-matches
  double verify_ms_median = 0;
};

/// Enrols each finger's first impression (that image for every enrolment stage) and verifies
/// every other image against every enrolled finger. `socket_dir` holds the device's socket.
/// libfprint enumerates devices on GLib's default main context: call from one thread only.
Result<PeerRates> measure_libfprint(const std::vector<PeerImage>& images, const std::filesystem::path& socket_dir);

}  // namespace sdbox::bench
