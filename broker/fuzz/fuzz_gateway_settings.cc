// libFuzzer target: any bytes as the gateway's settings on stdin. The parser must refuse or
// accept without crashing, and what it accepts must survive serialise → parse unchanged.
#include "gateway/gateway_settings.hpp"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdbox::broker;
  auto parsed = parse_gateway_settings(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed) return 0;
  auto again = parse_gateway_settings(serialise_gateway_settings(*parsed));
  if (!again) std::abort();
  if (serialise_gateway_settings(*again) != serialise_gateway_settings(*parsed)) std::abort();
  return 0;
}
