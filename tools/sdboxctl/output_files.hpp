#pragma once
// Files sdboxctl's verbs write (certificate bundles, the state directory): a target must be new
// or empty, and whatever a verb created is removed again when it does not get to the end.

#include "sdbox/common/result.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sdbox::ctl {

/// Refuses (a `broker` conflict naming it) a `directory` that holds anything or is not a
/// directory: what a verb writes never mixes with older files.
Status require_empty_or_absent(const std::filesystem::path& directory, std::string_view what);

/// Creates `directory` (and its parents) mode 0700; an existing one is left as it is.
Status make_private_directory(const std::filesystem::path& directory);

/// Undoes what a verb created when it does not get to the end, so a refusal leaves no files
/// behind. Actions run in reverse order of registration; `keep()` once everything succeeded.
class UndoOnFailure {
 public:
  UndoOnFailure() = default;
  UndoOnFailure(const UndoOnFailure&) = delete;
  UndoOnFailure& operator=(const UndoOnFailure&) = delete;
  ~UndoOnFailure();

  /// `directory` is about to be filled: it must not exist, or be empty. Undoing removes what
  /// this run put there: the topmost folder it had to create, or the new entries of an empty one.
  void directory_to_fill(const std::filesystem::path& directory);
  /// `file` is about to be created; undoing removes it.
  void file_to_create(const std::filesystem::path& file);
  void keep() { kept_ = true; }

 private:
  std::vector<std::function<void()>> actions_;
  bool kept_ = false;
};

/// A client certificate bundle as PEM texts (what the admin API answers for a new box).
struct BundlePem {
  std::string client_certificate;
  std::string client_key;
  std::string broker_ca;
};
/// Writes client.crt, client.key (mode 0600 from its creation) and broker-ca.crt into
/// `directory`, made 0700 when it does not exist. Files are never overwritten (an `io` error).
Status write_bundle(const std::filesystem::path& directory, const BundlePem& bundle);

}  // namespace sdbox::ctl
