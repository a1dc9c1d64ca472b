#pragma once

#include "sdbox/common/result.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace sdbox::desktop {

/// Replaces `path` with `report` atomically (write a sibling temporary file, then rename), so a
/// test polling the file never reads half of it.
Status write_report_atomically(const std::filesystem::path& path, const nlohmann::json& report);

}  // namespace sdbox::desktop
