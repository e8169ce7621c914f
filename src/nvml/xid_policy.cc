#include "nvml/xid_policy.h"

#include <cctype>
#include <charconv>

namespace deviceapi::nvml {

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kIgnore: return "ignore";
    case Severity::kWarning: return "warning";
    case Severity::kFatal: return "fatal";
    case Severity::kFollowRecoveryAction: return "follow-recovery-action";
  }
  return "?";
}

namespace {
std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Catalog immediate action -> (severity, recommended action). Workflows name an
// investigation, not a step, so they recommend the recovery step the workflow
// starts with (a GPU reset); the catalog token stays in the message.
struct Mapping {
  Severity severity;
  const char* action;
};
Mapping MapImmediateAction(std::string_view a) {
  if (a == "IGNORE") return {Severity::kIgnore, ""};
  if (a == "RESTART_APP") return {Severity::kWarning, "RESTART_APP"};
  if (a == "CHECK_UVM") return {Severity::kWarning, "CHECK_UVM"};
  if (a == "WORKFLOW_XID_45") return {Severity::kWarning, "RESTART_APP"};
  if (a == "RESET_GPU") return {Severity::kFatal, "RESET_GPU"};
  if (a == "RESTART_BM") return {Severity::kFatal, "RESTART_BM"};
  if (a == "RESTART_VM") return {Severity::kFatal, "RESTART_VM"};
  if (a == "WORKFLOW_XID_48" || a == "WORKFLOW_NVLINK_ERR" || a == "WORKFLOW_NVLINK5_ERR")
    return {Severity::kFatal, "RESET_GPU"};
  if (a == "XID_154") return {Severity::kFollowRecoveryAction, ""};
  if (a == "CHECK_MECHANICALS" || a == "UPDATE_SWFW" || a == "CONTACT_SUPPORT")
    return {Severity::kFatal, a == "CHECK_MECHANICALS" ? "CHECK_MECHANICALS"
                              : a == "UPDATE_SWFW"     ? "UPDATE_SWFW"
                                                       : "CONTACT_SUPPORT"};
  // No action documented (162..172) or a bucket this build does not know:
  // treat as unknown, which is not harmless.
  return {Severity::kFatal, "CONTACT_SUPPORT"};
}
}  // namespace

bool XidPolicyConfig::ParseXidList(std::string_view text, std::set<uint32_t>* out, std::string* error) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    auto tok = Trim(text.substr(start, end - start));
    if (!tok.empty()) {
      uint32_t v = 0;
      auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
      if (ec != std::errc() || p != tok.data() + tok.size()) {
        if (error) *error = "not an Xid number: '" + std::string(tok) + "'";
        return false;
      }
      out->insert(v);
    }
    start = end + 1;
  }
  return true;
}

namespace {
// The device plugin's reading of one of its variables: lower-cased, comma-separated; a token
// "all" or "xids" means every Xid; a token that is not an Xid number is skipped (it logs and
// goes on). Returns true for "every Xid"; skipped tokens go to *skipped.
bool ReadDevicePluginList(std::string_view text, std::set<uint32_t>* xids, const char* variable,
                          std::vector<std::string>* skipped) {
  std::string lower(text);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::string_view all(lower);
  bool every = false;
  for (size_t start = 0; start <= all.size();) {
    size_t end = all.find(',', start);
    if (end == std::string_view::npos) end = all.size();
    const auto tok = Trim(all.substr(start, end - start));
    start = end + 1;
    if (tok == "all" || tok == "xids") {
      every = true;
    } else if (!tok.empty()) {
      std::set<uint32_t> one;
      std::string why;
      if (XidPolicyConfig::ParseXidList(tok, &one, &why)) {
        xids->insert(one.begin(), one.end());
      } else if (skipped) {
        skipped->push_back(std::string(variable) + ": skipped '" + std::string(tok) + "' (not an Xid)");
      }
    }
  }
  return every;
}
}  // namespace

void XidPolicyConfig::ApplyDevicePluginEnv(std::string_view disable, std::string_view enable,
                                           std::vector<std::string>* skipped) {
  // DP_DISABLE_HEALTHCHECKS: "all" or "xids" ignores every Xid; otherwise the Xids listed are
  // ignored in addition to the defaults.
  if (ReadDevicePluginList(disable, &ignore, "DP_DISABLE_HEALTHCHECKS", skipped)) ignore_all = true;
  // DP_ENABLE_HEALTHCHECKS: Xids named here override every ignore; "all" (or "xids") turns
  // off the default ignore list too.
  if (ReadDevicePluginList(enable, &force_enable, "DP_ENABLE_HEALTHCHECKS", skipped)) enable_all = true;
}

XidPolicy::XidPolicy(XidPolicyConfig cfg, const XidCatalog* catalog) : cfg_(std::move(cfg)), catalog_(catalog) {}

XidVerdict XidPolicy::Classify(uint32_t xid) const {
  XidVerdict v;
  const XidEntry* e = catalog_ ? catalog_->Find(xid) : nullptr;
  if (e) {
    v.mnemonic = e->mnemonic;
    v.description = e->description;
    v.catalog_action = e->immediate_action;
    auto m = MapImmediateAction(e->immediate_action);
    v.severity = m.severity;
    v.recommended_action = m.action;
    if (e->immediate_action.empty()) v.reason = "UnknownXid";
  } else {
    v.mnemonic = "UNKNOWN";
    v.description = "Xid not in the catalog (newer driver or NVML's 999): treated as fatal";
    v.severity = Severity::kFatal;
    v.recommended_action = "CONTACT_SUPPORT";
    v.reason = "UnknownXid";
  }
  if (xid == 79) {  // fallen off the bus: the GPU is gone until a reboot
    v.severity = Severity::kFatal;
    v.recommended_action = "RESTART_BM";
    v.reason = "GPULost";
  }

  // Operator configuration, strongest first.
  if (cfg_.fatal.count(xid) || cfg_.force_enable.count(xid)) {
    if (v.severity != Severity::kFatal) {
      v.severity = Severity::kFatal;
      if (v.recommended_action.empty() || v.recommended_action == "RESTART_APP" || v.recommended_action == "CHECK_UVM")
        v.recommended_action = "RESET_GPU";
    }
  } else if (!cfg_.enable_all) {
    // "all" turns Xid checks off, not the recovery action Xid 154 carries: GPU-lost, ECC
    // and recovery-action signals are never silenced by it.
    const bool silenced_by_all = cfg_.ignore_all && v.severity != Severity::kFollowRecoveryAction;
    bool ignored = silenced_by_all || cfg_.ignore.count(xid) ||
                   (cfg_.use_default_ignores && KubernetesDefaultIgnoredXids().count(xid));
    if (ignored) v.severity = Severity::kIgnore;
  } else if (v.severity == Severity::kIgnore) {
    // DP_ENABLE_HEALTHCHECKS=all: like the device plugin, every Xid counts.
    v.severity = Severity::kWarning;
    v.recommended_action = "RESTART_APP";
  }
  if (v.severity == Severity::kIgnore) v.recommended_action.clear();
  if (v.reason.empty()) v.reason = v.severity == Severity::kWarning ? "XidWarning" : "XidError";
  return v;
}

int ActionRank(std::string_view a) {
  if (a.empty()) return 0;
  if (a == "CHECK_UVM") return 1;
  if (a == "RESTART_APP") return 2;
  if (a == "UPDATE_SWFW") return 3;
  if (a == "CONTACT_SUPPORT") return 4;
  if (a == "DRAIN_P2P") return 5;
  if (a == "RESET_GPU" || a == "DRAIN_AND_RESET") return 6;
  if (a == "CHECK_MECHANICALS") return 7;
  if (a == "RESTART_VM") return 8;
  if (a == "RESTART_BM") return 9;
  return 4;  // anything else: as serious as an unknown fault
}

}  // namespace deviceapi::nvml
