#include "user_directory.hpp"

#include <openssl/crypto.h>

#include <fstream>
#include <sstream>

namespace sdbox::desktop {

Result<UserDirectory> UserDirectory::load(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) return make_error(ErrorCategory::config, "cannot read users file " + path.string());
  std::stringstream text;
  text << file.rdbuf();
  auto parsed = parse(text.str());
  if (!parsed) return make_error(ErrorCategory::config, path.string() + ": " + parsed.error().message);
  return parsed;
}

Result<UserDirectory> UserDirectory::parse(const std::string& text) {
  UserDirectory directory;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    auto colon = line.find(':');
    // The message names the line, never its content: the content holds a password.
    if (colon == std::string::npos || colon == 0) {
      return make_error(ErrorCategory::config, "line " + std::to_string(number) + " is not user:password");
    }
    auto user = line.substr(0, colon);
    if (directory.passwords_.contains(user)) {
      return make_error(ErrorCategory::config, "line " + std::to_string(number) + " repeats user " + user);
    }
    directory.passwords_.emplace(std::move(user), line.substr(colon + 1));
  }
  if (directory.passwords_.empty()) return make_error(ErrorCategory::config, "no users");
  return directory;
}

bool UserDirectory::accepts(const std::string& user, const std::string& password) const {
  auto found = passwords_.find(user);
  if (found == passwords_.end()) return false;
  const auto& expected = found->second;
  return expected.size() == password.size() && CRYPTO_memcmp(expected.data(), password.data(), password.size()) == 0;
}

}  // namespace sdbox::desktop
