// sdbox-softcard: a PIV card emulator that plugs into pcscd through the vsmartcard vpcd driver.
#include "card_state.hpp"
#include "piv_applet.hpp"
#include "vpcd_link.hpp"

#include "sdbox/common/log.hpp"

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>

namespace {

std::atomic<bool> g_stop{false};  // set from signal handlers only

void request_stop(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sdbox-softcard: PIV card emulator for pcscd + vsmartcard-vpcd"};
  std::string state_path;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int connect_timeout_ms = 10000;
  std::string level;
  app.add_option("--state", state_path, "card state file (created as a fresh card when missing)")->required();
  app.add_option("--port", port, "TCP port where vpcd listens (slot 0)")->required();
  app.add_option("--host", host, "host where vpcd listens");
  app.add_option("--connect-timeout-ms", connect_timeout_ms, "how long to keep trying to reach vpcd");
  app.add_option("--log-level", level, "trace, debug, info, warn, error");
  CLI11_PARSE(app, argc, argv);

  sdbox::log::init("softcard", level);
  auto logger = sdbox::log::component("softcard");

  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  std::signal(SIGPIPE, SIG_IGN);

  const sdbox::softcard::StateFile file(state_path);
  auto state = file.load_or_create();
  if (!state) {
    logger->error("cannot load the card {}", sdbox::log::Fields().add("error", state.error().describe()));
    return 1;
  }
  sdbox::softcard::PivApplet applet(std::move(*state),
                                    [&file](const sdbox::softcard::CardState& next) { return file.save(next); });

  sdbox::softcard::VpcdLink link(host, port);
  if (auto connected = link.connect(std::chrono::milliseconds(connect_timeout_ms)); !connected) {
    logger->error("card not inserted {}", sdbox::log::Fields().add("error", connected.error().describe()));
    return 1;
  }
  logger->info("card inserted {}", sdbox::log::Fields().add("vpcd", fmt::format("{}:{}", host, port)).add(
                                       "state", state_path));

  const sdbox::softcard::CardHandlers handlers{
      [&applet] { applet.reset(); },
      [] { return sdbox::softcard::softcard_atr(); },
      [&applet, &logger](sdbox::ByteView command) {
        sdbox::Bytes response = applet.process(command);
        // Instruction and status only: command data may be a PIN or key material.
        if (logger->should_log(spdlog::level::debug) && command.size() >= 2 && response.size() >= 2) {
          logger->debug("apdu {}", sdbox::log::Fields()
                                       .add("ins", fmt::format("{:02X}", command[1]))
                                       .add("sw", fmt::format("{:02X}{:02X}", response[response.size() - 2],
                                                              response.back())));
        }
        return response;
      },
  };
  auto served = link.serve(handlers, g_stop);
  link.close();
  if (!served) {
    logger->error("card link failed {}", sdbox::log::Fields().add("error", served.error().describe()));
    return 1;
  }
  logger->info("card removed");
  return 0;
}
