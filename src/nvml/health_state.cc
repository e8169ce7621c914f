#include "nvml/health_state.h"

#include <vector>

namespace deviceapi::nvml {

std::string_view RecoveryActionName(RecoveryAction a) {
  switch (a) {
    case RecoveryAction::kNone: return "NONE";
    case RecoveryAction::kGpuReset: return "GPU_RESET";
    case RecoveryAction::kNodeReboot: return "NODE_REBOOT";
    case RecoveryAction::kDrainP2P: return "DRAIN_P2P";
    case RecoveryAction::kDrainAndReset: return "DRAIN_AND_RESET";
  }
  return "UNKNOWN";
}

HealthVerdict Unwatched(HealthVerdict v, const std::string& why) {
  if (!v.ready) return v;
  v.unknown = true;
  v.reason = "NotWatched";
  v.message = "the provider cannot see this GPU's faults (" + why + "); last seen: " + v.message;
  return v;
}

bool HealthState::Upsert(Fault f, Clock::time_point now) {
  auto it = faults_.find(f.key);
  if (it == faults_.end()) {
    f.count = 1;
    f.last_seen = now;
    faults_.emplace(f.key, std::move(f));
    return true;
  }
  bool changed = it->second.message != f.message || it->second.severity != f.severity ||
                 it->second.action != f.action || it->second.reason != f.reason;
  f.count = it->second.count + 1;
  f.last_seen = now;
  it->second = std::move(f);
  return changed;
}

bool HealthState::Erase(const std::string& key) { return faults_.erase(key) > 0; }

bool HealthState::OnXid(uint32_t xid, const XidVerdict& v, Clock::time_point now) {
  if (v.severity == Severity::kIgnore || v.severity == Severity::kFollowRecoveryAction) return false;
  Fault f;
  f.key = xid == 79 ? "gpu-lost" : "xid/" + std::to_string(xid);
  f.severity = v.severity;
  f.reason = v.reason;
  f.action = v.recommended_action;
  f.message = "Xid " + std::to_string(xid) + " " + v.mnemonic + ": " + v.description + " (catalog action " +
              (v.catalog_action.empty() ? std::string("none") : v.catalog_action) + ")";
  if (v.severity == Severity::kWarning) f.message += "; warning only, GPU still usable";
  return Upsert(std::move(f), now);
}

bool HealthState::OnDoubleBitEcc(uint64_t count, Clock::time_point now) {
  Fault f;
  f.key = "ecc/dbe";
  f.severity = Severity::kFatal;
  f.reason = "EccDoubleBitError";
  f.action = "RESET_GPU";
  f.message = "uncorrectable (double-bit) ECC error" + (count ? " count " + std::to_string(count) : std::string());
  return Upsert(std::move(f), now);
}

bool HealthState::OnGpuLost(std::string_view detail, Clock::time_point now) {
  Fault f;
  f.key = "gpu-lost";
  f.severity = Severity::kFatal;
  f.reason = "GPULost";
  f.action = "RESTART_BM";
  f.message = "GPU is lost: " + std::string(detail);
  return Upsert(std::move(f), now);
}

bool HealthState::OnRecoveryAction(RecoveryAction a, Clock::time_point now) {
  bool changed = false;
  if (a == RecoveryAction::kNone) {
    if (last_recovery_ != RecoveryAction::kNone) reset_signalled_ = true;
    changed = Erase("recovery-action");
  } else {
    reset_signalled_ = false;
    Fault f;
    f.key = "recovery-action";
    f.severity = Severity::kFatal;
    f.reason = "RecoveryActionRequired";
    switch (a) {
      case RecoveryAction::kGpuReset: f.action = "RESET_GPU"; break;
      case RecoveryAction::kNodeReboot: f.action = "RESTART_BM"; break;
      case RecoveryAction::kDrainP2P: f.action = "DRAIN_P2P"; break;
      case RecoveryAction::kDrainAndReset: f.action = "DRAIN_AND_RESET"; break;
      default: f.action = "CONTACT_SUPPORT"; break;
    }
    f.message = "driver asks for GPU recovery action " + std::string(RecoveryActionName(a));
    changed = Upsert(std::move(f), now);
  }
  last_recovery_ = a;
  return changed;
}

bool HealthState::OnUnreadableRecoveryAction(const std::string& why, Clock::time_point now) {
  reset_signalled_ = false;
  last_recovery_ = RecoveryAction::kGpuReset;
  Fault f;
  f.key = "recovery-action";
  f.severity = Severity::kFatal;
  f.reason = "RecoveryActionRequired";
  f.action = "RESET_GPU";
  f.message = "Xid 154: the driver changed its GPU recovery action, which cannot be read (" + why +
              "); treated as GPU_RESET";
  return Upsert(std::move(f), now);
}

bool HealthState::OnProbe(const ProbeResult& p, bool after_reset, Clock::time_point now) {
  bool changed = false;
  // The signal is used up by this probe either way: left set after an unclean one, a later
  // NONE could let a clean probe wipe faults that arrived after it.
  if (after_reset) reset_signalled_ = false;
  if (after_reset && p.clean()) {
    // The GPU was reset and looks clean: every reset/reboot-class fault goes, and so do the
    // warnings that only a reset ends (pending remap or retirement: the probe shows none now).
    std::vector<std::string> drop;
    for (auto& [k, f] : faults_)
      if (f.severity == Severity::kFatal || k == "remap/pending" || k == "retirement/pending") drop.push_back(k);
    for (auto& k : drop) changed |= Erase(k);
    reset_signalled_ = false;
    return changed;
  }
  if (p.volatile_uncorrected_ecc > 0) changed |= OnDoubleBitEcc(p.volatile_uncorrected_ecc, now);
  if (p.row_remap_failure) {
    Fault f{"remap/failure", Severity::kFatal, "RowRemapFailure", "RESET_GPU",
            "row remapping failed: memory can no longer be repaired", 0, {}};
    changed |= Upsert(std::move(f), now);
  }
  // Pending retirement/remap takes effect on the next reset: the GPU keeps
  // working, so this is a warning, but it only goes away with a reset (the
  // quiet period does not apply: see ExpireWarnings).
  if (p.row_remap_pending) {
    Fault f{"remap/pending", Severity::kWarning, "RowRemapPending", "RESET_GPU",
            "row remapping pending: reset the GPU when convenient; warning only", 0, {}};
    changed |= Upsert(std::move(f), now);
  }
  if (p.retired_pages_pending) {
    Fault f{"retirement/pending", Severity::kWarning, "PageRetirementPending", "RESET_GPU",
            "page retirement pending: reset the GPU when convenient; warning only", 0, {}};
    changed |= Upsert(std::move(f), now);
  }
  if (p.recovery_action) changed |= OnRecoveryAction(*p.recovery_action, now);
  return changed;
}

bool HealthState::ExpireWarnings(Clock::time_point now, Clock::duration quiet) {
  std::vector<std::string> drop;
  for (auto& [k, f] : faults_) {
    bool pending_until_reset = k == "remap/pending" || k == "retirement/pending";
    if (f.severity == Severity::kWarning && !pending_until_reset && now - f.last_seen >= quiet) drop.push_back(k);
  }
  for (auto& k : drop) faults_.erase(k);
  return !drop.empty();
}

HealthVerdict HealthState::Verdict() const {
  HealthVerdict v;
  if (faults_.empty()) return v;
  const Fault* worst = nullptr;
  bool any_fatal = false;
  std::string msg;
  for (auto& [k, f] : faults_) {
    any_fatal |= f.severity == Severity::kFatal;
    auto better = [&](const Fault& a, const Fault& b) {  // is a worse than b
      if ((a.severity == Severity::kFatal) != (b.severity == Severity::kFatal)) return a.severity == Severity::kFatal;
      return ActionRank(a.action) > ActionRank(b.action);
    };
    if (!worst || better(f, *worst)) worst = &f;
  }
  // Worst first, then the rest, so the message leads with what matters.
  msg = worst->message;
  if (worst->count > 1) msg += " (x" + std::to_string(worst->count) + ")";
  for (auto& [k, f] : faults_) {
    if (&f == worst) continue;
    msg += "; " + f.message;
    if (f.count > 1) msg += " (x" + std::to_string(f.count) + ")";
  }
  if (msg.size() > 4000) msg.resize(4000);  // stay far below the server's per-message limit
  v.ready = !any_fatal;
  v.reason = worst->reason;
  v.message = msg;
  v.recommended_action = worst->action;
  return v;
}

}  // namespace deviceapi::nvml
