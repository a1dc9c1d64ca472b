// libFuzzer target: the box configuration parser refuses or accepts, never crashes, and what it
// accepts always has what the box needs.
#include "config/box_config.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = sdbox::firmware::parse_box_config(std::string_view(reinterpret_cast<const char*>(data), size), "/etc/sdbox");
  if (parsed && (parsed->broker.host.empty() || parsed->broker.port == 0 || parsed->bundle.empty())) std::abort();
  return 0;
}
