// sdbox-fingerfeed: puts "fingers" on libfprint's virtual_image sensor, one image per capture.
#include "virtual_image_feeder.hpp"

#include "sdbox/common/log.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <thread>

int main(int argc, char** argv) {
  CLI::App app{"sdbox-fingerfeed: feed images to libfprint's virtual_image sensor (FP_VIRTUAL_IMAGE socket)"};
  std::string socket;
  std::vector<std::string> images;
  double dpi = 500;
  int pause_ms = 500;
  app.add_option("--socket", socket, "the FP_VIRTUAL_IMAGE socket of the sensor")->required();
  app.add_option("images", images, "images (TIFF or PGM), one per capture, in order")->required();
  app.add_option("--dpi", dpi, "resolution of PGM images")->check(CLI::Range(250.0, 2000.0));
  app.add_option("--pause-ms", pause_ms, "time between two fingers")->check(CLI::Range(0, 60000));
  CLI11_PARSE(app, argc, argv);
  sdbox::log::init("fingerfeed", "warn");
  for (const auto& path : images) {
    auto image = sdbox::read_image(path, dpi);
    if (!image) {
      std::cerr << "fingerfeed: " << image.error().describe() << "\n";
      return 1;
    }
    auto feeder = sdbox::fingerfeed::VirtualImageFeeder::connect(socket, std::chrono::seconds(30));
    if (!feeder) {
      std::cerr << "fingerfeed: " << feeder.error().describe() << "\n";
      return 1;
    }
    if (auto sent = feeder->send_image(*image); !sent) {
      std::cerr << "fingerfeed: " << sent.error().describe() << "\n";
      return 1;
    }
    std::cout << "finger shown: " << path << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  return 0;
}
