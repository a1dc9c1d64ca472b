// sdbox-with-card: runs a command next to a private pcscd with the softcard inserted.
#include "card_lab.hpp"
#include "card/pcsc_card_reader.hpp"

#include "sdbox/common/log.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>

namespace {

using namespace sdbox;

std::atomic<pid_t> g_command_pid{0};

void forward_signal(int signal_number) {
  const pid_t pid = g_command_pid.load();
  if (pid > 0) ::kill(pid, signal_number);
}

int fail(const std::string& message) {
  std::cerr << "with-card: " << message << "\n";
  return 125;
}

/// Runs a sibling tool (sdboxctl) against the private stack; its output goes to ours.
Result<int> run_tool(const std::vector<std::string>& argv, const std::map<std::string, std::string>& environment) {
  auto process = Process::spawn({argv, environment, std::nullopt, std::nullopt});
  if (!process) return process.error();
  return process->wait();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"with-card: run COMMAND with a private pcscd and the SD-Box softcard inserted"};
  std::string state;
  bool demo = false;
  bool keep = false;
  std::string tools_dir = cardlab::executable_directory().parent_path().string();
  std::vector<std::string> command;
  app.add_option("--state", state, "card state file (kept; created as a fresh card when missing)");
  app.add_flag("--demo", demo, "personalise a throw-away card first (key on card, certificate, PIN 123456, PUK 12345678)");
  app.add_flag("--keep", keep, "keep the private directory (logs, throw-away CA) after the command");
  app.add_option("--tools", tools_dir, "build directory of tools/ (where softcard/ and sdboxctl/ are)");
  app.add_option("command", command, "the command to run (after --)")->required();
  app.positionals_at_end();
  CLI11_PARSE(app, argc, argv);
  log::init("with-card");

  if (demo && !state.empty() && std::filesystem::exists(state)) {
    return fail(fmt::format("--demo personalises a fresh card, but {} already exists", state));
  }
  const char* temporary_root = std::getenv("TMPDIR");
  std::string pattern = std::string(temporary_root != nullptr && *temporary_root != '\0' ? temporary_root : "/tmp") +
                        "/sdbox-card.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return fail("cannot create a private directory in " + pattern);
  const std::filesystem::path directory(pattern);
  if (state.empty()) state = (directory / "card.json").string();

  int status = 125;
  {
    auto pcscd = cardlab::PrivatePcscd::start({directory, "/usr/sbin/pcscd",
                                               "/usr/lib/pcsc/drivers/serial/libifdvpcd.so", 0,
                                               std::chrono::milliseconds(10000)});
    if (!pcscd) return fail(pcscd.error().describe());
    const std::filesystem::path tools(tools_dir);
    auto card = cardlab::insert_softcard(
        {tools / "softcard" / "sdbox-softcard", state, (*pcscd)->vpcd_port(), directory / "softcard.log", "info"});
    if (!card) return fail(card.error().describe());

    std::map<std::string, std::string> environment{
        {"PCSCLITE_CSOCK_NAME", (*pcscd)->socket_path().string()},
        {"SDBOX_CARD_STATE", std::filesystem::absolute(state).string()},
        {"SDBOX_CARD_DIR", directory.string()},
        {"SDBOX_VPCD_PORT", std::to_string((*pcscd)->vpcd_port())},
    };
    // Our own PC/SC calls (waiting for the card) must reach the private daemon as well.
    ::setenv("PCSCLITE_CSOCK_NAME", (*pcscd)->socket_path().c_str(), 1);

    boost::asio::io_context unused;
    auto reader = firmware::PcscCardReader::create({unused.get_executor(), cardlab::kReaderName, false});
    bool ready = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ready && card->running() && std::chrono::steady_clock::now() < deadline) {
      ready = reader->wait_for_card(true, std::chrono::milliseconds(100)).ok();
    }
    if (!ready) {
      std::cerr << "with-card: the card did not come up" << (card->running() ? " in time" : "") << "; softcard said:\n";
      std::ifstream log(directory / "softcard.log");
      std::cerr << log.rdbuf();
      keep = keep || card->running();  // a card that never answered: keep pcscd's log to look at
    }
    if (ready && demo) {
      const auto ca = directory / "ca";
      const auto sdboxctl = (tools / "sdboxctl" / "sdboxctl").string();
      auto made = run_tool({sdboxctl, "ca", "init", "--dir", ca.string(), "--name", "SD-Box demo card CA"}, environment);
      auto personalised = made && *made == 0
                              ? run_tool({sdboxctl, "card", "init", "--ca", ca.string(), "--name", "Demo Researcher",
                                          "--pin", "123456", "--puk", "12345678", "--quiet"},
                                         environment)
                              : made;
      if (!personalised || *personalised != 0) {
        std::cerr << "with-card: personalising the demo card failed; logs in " << directory << "\n";
        keep = true;
        ready = false;
      }
      environment["SDBOX_CARD_CA"] = ca.string();
    }

    if (ready) {
      std::signal(SIGINT, forward_signal);
      std::signal(SIGTERM, forward_signal);
      auto child = Process::spawn({command, environment, std::nullopt, std::nullopt});
      if (!child) {
        std::cerr << "with-card: " << child.error().describe() << "\n";
      } else {
        g_command_pid = child->pid();
        status = child->wait();
        g_command_pid = 0;
      }
    }
    card->stop();
    (*pcscd)->stop();
  }
  if (!keep) {
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
  } else {
    std::cerr << "with-card: private directory kept: " << directory << "\n";
  }
  return status;
}
