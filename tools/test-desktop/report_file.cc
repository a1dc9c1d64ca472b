#include "report_file.hpp"

#include <fstream>
#include <system_error>
#include <unistd.h>

namespace sdbox::desktop {

Status write_report_atomically(const std::filesystem::path& path, const nlohmann::json& report) {
  auto temporary = path;
  temporary += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << report.dump(2) << "\n";
    if (!file.flush()) return make_error(ErrorCategory::io, "cannot write " + temporary.string());
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::filesystem::remove(temporary, error);
    return make_error(ErrorCategory::io, "cannot replace " + path.string() + ": " + error.message());
  }
  return {};
}

}  // namespace sdbox::desktop
