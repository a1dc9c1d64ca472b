# Shared by the tools/ scripts: where the build is, and building it when needed.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# SDBOX_BUILD_DIR names an existing build to use as is (ctest sets it, so tests never rebuild
# under themselves); otherwise the default preset is configured and built incrementally.
ensure_built() {
  if [[ -n "${SDBOX_BUILD_DIR:-}" ]]; then
    build_dir=$SDBOX_BUILD_DIR
    return
  fi
  build_dir=$top/build/default
  "$top/tools/setup"
  if [[ ! -f "$build_dir/build.ninja" ]]; then
    cmake --preset default -S "$top" >/dev/null
  fi
  cmake --build "$build_dir" >/dev/null || cmake --build "$build_dir"
}
