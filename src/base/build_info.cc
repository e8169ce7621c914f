#include "base/build_info.h"

#include <nlohmann/json.hpp>

#include "deviceapi/build_info.h"

namespace deviceapi::base {

BuildInfo BuildInfo::Current() {
  return BuildInfo{build::kVersion, build::kCommit, build::kBuildDate, build::kCompiler};
}

std::string BuildInfo::ToJson() const {
  nlohmann::ordered_json j;
  j["version"] = version;
  j["commit"] = commit;
  j["buildDate"] = build_date;
  j["compiler"] = compiler;
  return j.dump();
}

}  // namespace deviceapi::base
