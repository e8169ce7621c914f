// One GPU's health as the provider sees it: the set of active faults and the
// recovery policy that clears them. Pure logic, no NVML and no I/O, so every
// transition is unit-tested. Not thread-safe: the owner serializes access.
//
// Recovery policy:
//  * fatal (reset/reboot-class) faults stay until the GPU is known to have been
//    reset: the GPU recovery action field returns to NONE after having asked
//    for an action AND a fresh probe is clean (no volatile uncorrected ECC, no
//    pending retirement/remap), or the provider starts after a reboot (state
//    lives in memory, NVML does not replay old events);
//  * warning-class faults (RESTART_APP ...) clear after a quiet period with no
//    new occurrence of that fault.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <string>

#include "nvml/xid_policy.h"

namespace deviceapi::nvml {

using Clock = std::chrono::steady_clock;

// GPU recovery action reported by NVML field 230 / nvmlEventTypeGpuRecoveryAction.
enum class RecoveryAction : uint32_t { kNone = 0, kGpuReset = 1, kNodeReboot = 2, kDrainP2P = 3, kDrainAndReset = 4 };

struct Fault {
  std::string key;       // "xid/79", "ecc/dbe", "gpu-lost", "recovery-action", ...
  Severity severity = Severity::kFatal;
  std::string reason;    // CamelCase
  std::string action;    // recommended action
  std::string message;
  uint64_t count = 0;    // occurrences
  Clock::time_point last_seen{};
};

// What the GPU's NVMLReady condition and recommended_action should say.
struct HealthVerdict {
  bool ready = true;            // NVMLReady status (True/False) unless `unknown`
  bool unknown = false;         // NVMLReady Unknown: the provider cannot tell (see Unwatched)
  std::string reason = "Healthy";
  std::string message = "NVML reports no active fault";
  std::string recommended_action;  // empty when healthy
  bool operator==(const HealthVerdict&) const = default;
};

// A clean-or-not snapshot of the startup/reset probe.
struct ProbeResult {
  uint64_t volatile_uncorrected_ecc = 0;
  bool retired_pages_pending = false;
  bool row_remap_pending = false;
  bool row_remap_failure = false;
  std::optional<RecoveryAction> recovery_action;  // nullopt: field not supported (or unreadable)
  // Reads that failed with an error other than "not supported" (names and errors, "; "-joined):
  // what they would have said is unknown, so the probe is not clean.
  std::string unreadable;
  bool clean() const {
    return unreadable.empty() && volatile_uncorrected_ecc == 0 && !retired_pages_pending && !row_remap_pending &&
           !row_remap_failure && (!recovery_action || *recovery_action == RecoveryAction::kNone);
  }
};

// The verdict to publish while the provider cannot see faults (`why`: its event wait fails,
// no event set, NVML not answering): a healthy one becomes Unknown, reason NotWatched, since
// a True nobody watches is what S28 forbids; a fault stays False (still true, and safe).
HealthVerdict Unwatched(HealthVerdict v, const std::string& why);

class HealthState {
 public:
  // Each returns true when the verdict may have changed.
  bool OnXid(uint32_t xid, const XidVerdict& v, Clock::time_point now);
  bool OnDoubleBitEcc(uint64_t count, Clock::time_point now);
  bool OnGpuLost(std::string_view detail, Clock::time_point now);
  // The recovery action reported now (event or field read). A transition back
  // to NONE is only a reset signal; the caller follows with OnProbe.
  bool OnRecoveryAction(RecoveryAction a, Clock::time_point now);
  // The driver changed its recovery action (Xid 154) but the field cannot be read (`why`):
  // counted as asking for a GPU reset, so the change is never lost.
  bool OnUnreadableRecoveryAction(const std::string& why, Clock::time_point now);
  // Startup or post-reset probe. When `after_reset` and the probe is clean,
  // every fatal fault is cleared (the GPU was reset).
  bool OnProbe(const ProbeResult& p, bool after_reset, Clock::time_point now);
  // Adds a fault known from elsewhere (e.g. carried over a provider restart).
  bool AddFault(Fault f, Clock::time_point now) { return Upsert(std::move(f), now); }
  // Drops warnings not seen for `quiet`. Returns true when any was dropped.
  bool ExpireWarnings(Clock::time_point now, Clock::duration quiet);

  // True once the recovery action asked for something and has since gone back to NONE.
  bool reset_signalled() const { return reset_signalled_; }

  HealthVerdict Verdict() const;
  const std::map<std::string, Fault>& faults() const { return faults_; }

 private:
  bool Upsert(Fault f, Clock::time_point now);
  bool Erase(const std::string& key);

  std::map<std::string, Fault> faults_;
  RecoveryAction last_recovery_ = RecoveryAction::kNone;
  bool reset_signalled_ = false;
};

std::string_view RecoveryActionName(RecoveryAction a);

}  // namespace deviceapi::nvml
