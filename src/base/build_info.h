// The build facts baked into a binary (version, commit, build date,
// compiler), in the one shape every daemon reports them: `--version`,
// GET /version and the *_build_info metric.
#pragma once

#include <string>

namespace deviceapi::base {

struct BuildInfo {
  std::string version, commit, build_date, compiler;
  // The facts baked into this binary (deviceapi/build_info.h).
  static BuildInfo Current();
  // {"version":...,"commit":...,"buildDate":...,"compiler":...}: the
  // `--version` output and the /version body, keys in this order.
  std::string ToJson() const;
};

}  // namespace deviceapi::base
