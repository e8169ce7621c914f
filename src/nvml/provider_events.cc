// NVML's events into each GPU's health state, on the event thread; and
// enumerating again while some GPU could not be identified. A change marks
// the GPU dirty and wakes the sync thread, which alone talks to the server.
#include <spdlog/spdlog.h>

#include <set>

#include "nvml/provider.h"

namespace deviceapi::nvml {

void Provider::MarkDirty(size_t i, Clock::time_point now) {
  if (!slots_[i].dirty) slots_[i].dirty_since = now;
  slots_[i].dirty = true;
  slots_[i].push_refused = false;
  cv_.notify_all();
}

void Provider::OnWaitError(const std::string& what, bool changed) {
  metrics_.nvml_errors.WithLabels({"event_wait"}).Inc();
  if (changed) spdlog::warn("events: {}", what);  // once while the same failure repeats
}

void Provider::OnEvent(const NvmlEvent& e) {
  auto now = Clock::now();
  std::string xid_label = e.kind == NvmlEvent::Kind::kXid ? std::to_string(e.data) : "";
  if (e.kind != NvmlEvent::Kind::kRewatched)  // ours, not NVML's
    metrics_.events.WithLabels({std::string(EventKindName(e.kind)), xid_label}).Inc();
  std::lock_guard<std::mutex> lk(mu_);
  if (e.gpu >= slots_.size()) return;
  Slot& s = slots_[e.gpu];
  bool changed = false;
  // After the driver stops asking for a recovery action: probe; clean means the GPU was reset.
  const auto check_reset = [&] {
    if (!s.health.reset_signalled()) return;
    bool lost = false;
    auto p = nvml_->Probe(s.info.handle, &lost);
    if (p) changed |= s.health.OnProbe(*p, /*after_reset=*/true, now);
    spdlog::info("reset check gpu={} uuid={} clean={} ready={}", s.info.index, s.info.uuid, p && p->clean(),
                 s.health.Verdict().ready);
  };
  switch (e.kind) {
    case NvmlEvent::Kind::kXid: {
      auto v = policy_.Classify(static_cast<uint32_t>(e.data));
      spdlog::warn("event gpu={} uuid={} xid={} mnemonic={} severity={} action={}", s.info.index, s.info.uuid,
                   e.data, v.mnemonic, SeverityName(v.severity), v.recommended_action);
      if (v.severity == Severity::kFollowRecoveryAction) {
        // Drivers without the recovery-action event say it only through this Xid.
        nvmlReturn_t r = NVML_SUCCESS;
        if (auto ra = nvml_->ReadRecoveryAction(s.info.handle, &r)) {
          changed = s.health.OnRecoveryAction(*ra, now);
          check_reset();
        } else {
          // The action changed and cannot be read: assume the driver wants a reset.
          spdlog::warn("gpu={} uuid={} recovery action unreadable: {}", s.info.index, s.info.uuid,
                       nvml_->lib().ErrorString(r));
          metrics_.nvml_errors.WithLabels({"recovery_action"}).Inc();
          changed = s.health.OnUnreadableRecoveryAction(nvml_->lib().ErrorString(r), now);
        }
      } else {
        changed = s.health.OnXid(static_cast<uint32_t>(e.data), v, now);
      }
      break;
    }
    case NvmlEvent::Kind::kDoubleBitEcc: {
      unsigned long long n = 0;
      if (nvml_->api().DeviceGetTotalEccErrors) nvml_->api().DeviceGetTotalEccErrors(s.info.handle, 1, 0, &n);
      spdlog::warn("event gpu={} uuid={} ecc=double-bit volatile_uncorrected={}", s.info.index, s.info.uuid, n);
      changed = s.health.OnDoubleBitEcc(n, now);
      break;
    }
    case NvmlEvent::Kind::kSingleBitEcc:
      spdlog::info("event gpu={} uuid={} ecc=single-bit (corrected; no health change)", s.info.index, s.info.uuid);
      break;
    case NvmlEvent::Kind::kGpuUnavailable:
    case NvmlEvent::Kind::kGpuLost:
      spdlog::error("event gpu={} uuid={} gpu lost ({})", s.info.index, s.info.uuid, EventKindName(e.kind));
      changed = s.health.OnGpuLost(e.kind == NvmlEvent::Kind::kGpuLost ? "NVML_ERROR_GPU_IS_LOST"
                                                                        : "GPU unavailable event",
                                   now);
      break;
    case NvmlEvent::Kind::kRewatched: {
      // Watched by a new event set: read what an event missed in between may have said.
      bool lost = false;
      auto p = nvml_->Probe(s.info.handle, &lost);
      if (lost) {
        changed = s.health.OnGpuLost("NVML answers GPU_IS_LOST", now);
      } else if (p) {
        // Only faults not known yet: one already standing is no new occurrence to count.
        HealthState seen;
        seen.OnProbe(*p, /*after_reset=*/false, now);
        for (const auto& [key, fault] : seen.faults())
          if (!s.health.faults().count(key)) changed |= s.health.AddFault(fault, now);
      }
      spdlog::debug("events gpu={} uuid={} watched by a new event set; probed clean={}", s.info.index, s.info.uuid,
                    p && p->clean());
      break;
    }
    case NvmlEvent::Kind::kRecoveryAction: {
      auto a = static_cast<RecoveryAction>(e.data <= 4 ? e.data : 1);
      spdlog::warn("event gpu={} uuid={} recovery_action={}", s.info.index, s.info.uuid, RecoveryActionName(a));
      changed = s.health.OnRecoveryAction(a, now);
      check_reset();
      break;
    }
  }
  if (changed) MarkDirty(e.gpu, now);
}

void Provider::EnumerateAgain() {
  std::vector<std::string> warnings;
  NvmlDevices::Gaps gaps;
  auto gpus = nvml_->Enumerate(&warnings, &gaps);
  if (gaps.count_failed) return;  // no better view than the one held
  std::vector<GpuInfo> added;
  {
    std::lock_guard<std::mutex> lk(mu_);
    std::set<std::string> known;
    for (const Slot& s : slots_) known.insert(s.info.uuid);
    for (auto& g : gpus) {
      if (known.count(g.uuid)) continue;
      // Appended, in the watcher's order too: a slot's index is its events' GPU index.
      Slot s;
      s.info = g;
      s.dirty_since = Clock::now();
      bool lost = false;
      auto probe = nvml_->Probe(g.handle, &lost);
      if (lost) s.health.OnGpuLost("NVML answers GPU_IS_LOST", Clock::now());
      else if (probe) s.health.OnProbe(*probe, /*after_reset=*/false, Clock::now());
      s.probed_clean = !lost && probe && probe->clean();
      spdlog::info("gpu index={} uuid={} identified now: watching and publishing it", g.index, g.uuid);
      slots_.push_back(std::move(s));
      added.push_back(g);
    }
    metrics_.gpus.Get().Set(static_cast<double>(slots_.size()));
  }
  if (!added.empty() && watcher_) watcher_->Add(std::move(added));
  enumeration_gaps_ = gaps;
  enumeration_gap_.clear();
  for (auto& w : warnings) enumeration_gap_ += (enumeration_gap_.empty() ? "" : "; ") + w;
  if (gaps.complete()) spdlog::info("enumerate: every GPU NVML counts is identified now");
}

}  // namespace deviceapi::nvml
