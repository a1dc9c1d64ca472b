#pragma once

#include <span>
#include <string_view>

namespace sdbox::broker {

/// One file of the ops dashboard, embedded in the binary at build time (cmake/EmbedFiles.cmake).
struct StaticAsset {
  std::string_view path;          ///< URL path it is served at: "/", "/dashboard.js", "/dashboard.css".
  std::string_view content_type;  ///< Value for the Content-Type header, e.g. "text/html; charset=utf-8".
  std::string_view body;          ///< The file's bytes, exactly as in broker/api/dashboard/.
};

/// The dashboard's files: "/" (index.html), "/dashboard.js" and "/dashboard.css".
/// The storage is static; the span and the views stay valid for the whole program.
std::span<const StaticAsset> dashboard_assets();

}  // namespace sdbox::broker
