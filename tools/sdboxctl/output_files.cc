#include "output_files.hpp"

#include "store/store.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sdbox::ctl {

namespace {

Status write_new_file(const std::filesystem::path& file, std::string_view text, mode_t mode) {
  // O_EXCL: never through an existing file or link; the mode holds from the first byte.
  const int descriptor = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (descriptor < 0) {
    return make_error(ErrorCategory::io, fmt::format("cannot create {}: {}", file.string(), std::strerror(errno)));
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const auto count = ::write(descriptor, text.data() + written, text.size() - written);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      const int saved = errno;
      ::close(descriptor);
      return make_error(ErrorCategory::io, fmt::format("cannot write {}: {}", file.string(), std::strerror(saved)));
    }
    written += static_cast<std::size_t>(count);
  }
  if (::close(descriptor) != 0) {
    return make_error(ErrorCategory::io, fmt::format("cannot write {}: {}", file.string(), std::strerror(errno)));
  }
  return {};
}

}  // namespace

Status require_empty_or_absent(const std::filesystem::path& directory, std::string_view what) {
  std::error_code error;
  if (!std::filesystem::exists(directory, error)) return {};
  if (!std::filesystem::is_directory(directory, error)) {
    return broker::store_error(broker::StoreFailure::conflict,
                               fmt::format("{} {} exists and is not a directory", what, directory.string()));
  }
  if (!std::filesystem::is_empty(directory, error)) {
    return broker::store_error(broker::StoreFailure::conflict,
                               fmt::format("{} {} is not empty; not writing into it", what, directory.string()));
  }
  return {};
}

Status make_private_directory(const std::filesystem::path& directory) {
  std::error_code error;
  if (std::filesystem::exists(directory, error)) return {};
  std::filesystem::create_directories(directory, error);
  if (!error) std::filesystem::permissions(directory, std::filesystem::perms::owner_all, error);
  if (error) {
    return make_error(ErrorCategory::io, fmt::format("cannot create {}: {}", directory.string(), error.message()));
  }
  return {};
}

UndoOnFailure::~UndoOnFailure() {
  if (kept_) return;
  for (auto action = actions_.rbegin(); action != actions_.rend(); ++action) (*action)();
}

void UndoOnFailure::directory_to_fill(const std::filesystem::path& directory) {
  const auto absolute = std::filesystem::absolute(directory);
  if (std::filesystem::exists(absolute)) {
    actions_.emplace_back([absolute] {
      std::error_code ignored;
      for (const auto& entry : std::filesystem::directory_iterator(absolute, ignored)) {
        std::filesystem::remove_all(entry.path(), ignored);
      }
    });
    return;
  }
  auto topmost_new = absolute;
  while (!std::filesystem::exists(topmost_new.parent_path())) topmost_new = topmost_new.parent_path();
  actions_.emplace_back([topmost_new] {
    std::error_code ignored;
    std::filesystem::remove_all(topmost_new, ignored);
  });
}

void UndoOnFailure::file_to_create(const std::filesystem::path& file) {
  actions_.emplace_back([file] {
    std::error_code ignored;
    std::filesystem::remove(file, ignored);
  });
}

Status write_bundle(const std::filesystem::path& directory, const BundlePem& bundle) {
  if (auto made = make_private_directory(directory); !made) return made;
  // An empty directory given by the admin too: the key inside is the box's secret.
  std::error_code error;
  std::filesystem::permissions(directory, std::filesystem::perms::owner_all, error);
  if (auto written = write_new_file(directory / "client.key", bundle.client_key, 0600); !written) return written;
  if (auto written = write_new_file(directory / "client.crt", bundle.client_certificate, 0644); !written) return written;
  return write_new_file(directory / "broker-ca.crt", bundle.broker_ca, 0644);
}

}  // namespace sdbox::ctl
