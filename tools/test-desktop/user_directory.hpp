#pragma once

#include "sdbox/common/result.hpp"

#include <filesystem>
#include <map>
#include <string>

namespace sdbox::desktop {

/// The accounts of the test desktop, from a file of `user:password` lines (blank lines and lines
/// starting with # are skipped). Plain text on purpose: it is a test double, its users are fixtures.
class UserDirectory {
 public:
  static Result<UserDirectory> load(const std::filesystem::path& path);
  static Result<UserDirectory> parse(const std::string& text);

  /// True for a known user with this password (compared in constant time).
  [[nodiscard]] bool accepts(const std::string& user, const std::string& password) const;
  [[nodiscard]] bool knows(const std::string& user) const { return passwords_.contains(user); }
  [[nodiscard]] std::size_t size() const { return passwords_.size(); }

 private:
  std::map<std::string, std::string> passwords_;
};

}  // namespace sdbox::desktop
