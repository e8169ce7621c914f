// How an Xid affects a GPU's health: the catalog's immediate action mapped to a
// severity and a recommended action, adjusted by operator configuration
// (--ignore-xids, --fatal-xids, and the NVIDIA device plugin's
// DP_DISABLE_HEALTHCHECKS / DP_ENABLE_HEALTHCHECKS). Pure logic; immutable
// after construction, so it may be shared between threads.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nvml/xid_catalog.h"

namespace deviceapi::nvml {

enum class Severity {
  kIgnore,   // no change to health
  kWarning,  // NVMLReady stays True; message and recommended action say so; clears after a quiet period
  kFatal,    // NVMLReady=False until the GPU is reset
  // Xid 154: the action is whatever the GPU recovery action field now says;
  // the caller re-reads field 230 and reports that instead.
  kFollowRecoveryAction,
};

std::string_view SeverityName(Severity s);

// Xids NVIDIA's k8s-device-plugin and DRA driver ignore by default. 109 is
// deliberately NOT in our default list: the catalog says RESET_GPU for it.
inline const std::set<uint32_t>& KubernetesDefaultIgnoredXids() {
  static const std::set<uint32_t> k{13, 31, 43, 45, 68};
  return k;
}

struct XidPolicyConfig {
  std::set<uint32_t> ignore;         // --ignore-xids (added to the defaults)
  std::set<uint32_t> fatal;          // --fatal-xids (wins over everything)
  bool use_default_ignores = true;   // 13, 31, 43, 45, 68
  bool ignore_all = false;           // DP_DISABLE_HEALTHCHECKS=all|xids
  std::set<uint32_t> force_enable;   // DP_ENABLE_HEALTHCHECKS list: never ignored, treated as fatal
  bool enable_all = false;           // DP_ENABLE_HEALTHCHECKS=all: no Xid is ignored

  // Parses "13,31, 43" into *out. Returns false (and names the bad token) on junk.
  static bool ParseXidList(std::string_view text, std::set<uint32_t>* out, std::string* error);
  // Applies DP_DISABLE_HEALTHCHECKS / DP_ENABLE_HEALTHCHECKS values (empty = unset) as NVIDIA's
  // device plugin reads them: case-insensitive, "all" or "xids" for every Xid, and a token that
  // is not an Xid skipped (named in *skipped) rather than refused, so a setting copied from the
  // plugin never stops the provider from starting.
  void ApplyDevicePluginEnv(std::string_view disable, std::string_view enable, std::vector<std::string>* skipped);
};

struct XidVerdict {
  Severity severity = Severity::kFatal;
  std::string recommended_action;  // RESTART_APP, RESET_GPU, RESTART_BM, ...; empty for kIgnore
  std::string reason;              // CamelCase condition reason
  std::string mnemonic;            // "UNKNOWN" when the catalog has no row
  std::string description;
  std::string catalog_action;      // the catalog's immediate action, verbatim
};

class XidPolicy {
 public:
  explicit XidPolicy(XidPolicyConfig cfg = {}, const XidCatalog* catalog = &XidCatalog::Builtin());
  XidVerdict Classify(uint32_t xid) const;
  const XidPolicyConfig& config() const { return cfg_; }

 private:
  XidPolicyConfig cfg_;
  const XidCatalog* catalog_;
};

// Ranks recommended actions so the worst active fault wins (higher is worse).
int ActionRank(std::string_view action);

}  // namespace deviceapi::nvml
