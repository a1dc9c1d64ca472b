// sdbox-fingersynth: a folder of synthetic fingerprints (FFF_I.tif plus FFF_I.json with the
// ground-truth minutiae), laid out like an FVC set so tools/bench-fingerprint can run on it.
#include "synthetic_finger.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace {

nlohmann::json minutiae_json(const std::vector<sdbox::finger::Minutia>& minutiae) {
  auto list = nlohmann::json::array();
  for (const auto& minutia : minutiae) {
    list.push_back({{"x_mm", minutia.x_mm},
                    {"y_mm", minutia.y_mm},
                    {"angle_rad", minutia.angle_rad},
                    {"type", minutia.type == sdbox::finger::MinutiaType::ending ? "ending" : "bifurcation"}});
  }
  return list;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdbox-fingersynth: synthetic fingerprints (SFinGe-style) for tests and benchmarks"};
  std::filesystem::path out;
  unsigned fingers = 10, impressions = 8, first_finger = 101;
  std::uint64_t seed = 1;
  double dpi = 500, difficulty = 1.0;
  bool masters = false;
  app.add_option("--out", out, "folder to write (created; existing images are never overwritten)")->required();
  app.add_option("--fingers", fingers, "how many fingers")->check(CLI::Range(1u, 899u));
  app.add_option("--impressions", impressions, "impressions per finger")->check(CLI::Range(1u, 9u));
  app.add_option("--first-finger", first_finger, "number of the first finger (FFF in FFF_I.tif)")->check(CLI::Range(100u, 999u));
  app.add_option("--seed", seed, "the set's seed: the same seed gives the same images");
  app.add_option("--dpi", dpi, "resolution of the impressions")->check(CLI::Range(250.0, 1000.0));
  app.add_option("--difficulty", difficulty,
                 "how far impressions stray: 0 = the master, 1 = careful optical capture, 2 = careless")
      ->check(CLI::Range(0.0, 2.0));
  app.add_flag("--masters", masters, "also write each master print as FFF_0.tif");
  CLI11_PARSE(app, argc, argv);
  if (first_finger + fingers - 1 > 999) {
    std::cerr << "fingersynth: finger numbers must stay within three digits (first " << first_finger << ", "
              << fingers << " fingers)\n";
    return 2;
  }

  std::error_code error;
  std::filesystem::create_directories(out, error);
  if (error) {
    std::cerr << "fingersynth: cannot create " << out << ": " << error.message() << "\n";
    return 1;
  }
  auto name = [&](unsigned finger, unsigned impression, const char* extension) {
    return out / (std::to_string(finger) + "_" + std::to_string(impression) + extension);
  };
  // Check every name first, so a refused run leaves the folder as it was.
  for (unsigned finger = first_finger; finger < first_finger + fingers; ++finger) {
    for (unsigned impression = masters ? 0 : 1; impression <= impressions; ++impression) {
      for (const char* extension : {".tif", ".json"}) {
        if (std::filesystem::exists(name(finger, impression, extension))) {
          std::cerr << "fingersynth: " << name(finger, impression, extension) << " already exists; choose another folder\n";
          return 1;
        }
      }
    }
  }
  auto write = [&](const sdbox::GrayImage& image, const nlohmann::json& truth, unsigned finger, unsigned impression) {
    if (auto written = sdbox::write_image(image, name(finger, impression, ".tif")); !written) {
      std::cerr << "fingersynth: " << written.error().describe() << "\n";
      return false;
    }
    std::ofstream file(name(finger, impression, ".json"));
    file << truth.dump(1) << "\n";
    if (!file.flush()) {
      std::cerr << "fingersynth: cannot write " << name(finger, impression, ".json") << "\n";
      return false;
    }
    return true;
  };
  for (unsigned finger = first_finger; finger < first_finger + fingers; ++finger) {
    const auto master_seed = sdbox::fingersynth::derive_seed(seed, finger);
    const auto master = sdbox::fingersynth::make_master(master_seed);
    const nlohmann::json about_finger = {{"finger", finger}, {"set_seed", seed}, {"pattern", sdbox::fingersynth::pattern_name(master.pattern)}};
    if (masters) {
      sdbox::GrayImage image(master.width, master.height, 500);
      for (std::size_t i = 0; i < image.pixels.size(); ++i) {
        image.pixels[i] = master.finger[i] ? static_cast<std::uint8_t>(128 - 100 * master.ridges[i]) : 255;
      }
      auto truth = about_finger;
      truth["impression"] = 0;
      truth["dpi"] = 500;
      truth["minutiae"] = minutiae_json(master.minutiae);
      if (!write(image, truth, finger, 0)) return 1;
    }
    for (unsigned impression = 1; impression <= impressions; ++impression) {
      const auto capture = sdbox::fingersynth::make_impression(
          master, sdbox::fingersynth::derive_seed(seed, finger, impression), dpi, {difficulty});
      auto truth = about_finger;
      truth["impression"] = impression;
      truth["dpi"] = dpi;
      truth["difficulty"] = difficulty;
      truth["rotation_rad"] = capture.rotation_rad;
      truth["shift_mm"] = {capture.shift_x_mm, capture.shift_y_mm};
      truth["distortion_mm"] = capture.distortion_mm;
      truth["moisture"] = capture.moisture;
      truth["minutiae"] = minutiae_json(capture.minutiae);
      if (!write(capture.image, truth, finger, impression)) return 1;
    }
    std::cout << "finger " << finger << ": " << sdbox::fingersynth::pattern_name(master.pattern) << ", "
              << master.minutiae.size() << " minutiae, " << impressions << " impressions" << std::endl;
  }
  return 0;
}
