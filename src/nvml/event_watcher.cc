#include "nvml/event_watcher.h"

#include <chrono>

namespace deviceapi::nvml {

namespace {
constexpr unsigned long long kWanted = nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccError |
                                       nvmlEventTypeDoubleBitEccError | nvmlEventTypeGpuUnavailableError |
                                       nvmlEventTypeGpuRecoveryAction;
}

std::string_view EventKindName(NvmlEvent::Kind k) {
  switch (k) {
    case NvmlEvent::Kind::kXid: return "xid";
    case NvmlEvent::Kind::kSingleBitEcc: return "ecc_sbe";
    case NvmlEvent::Kind::kDoubleBitEcc: return "ecc_dbe";
    case NvmlEvent::Kind::kGpuUnavailable: return "gpu_unavailable";
    case NvmlEvent::Kind::kRecoveryAction: return "recovery_action";
    case NvmlEvent::Kind::kGpuLost: return "gpu_lost";
    case NvmlEvent::Kind::kRewatched: return "rewatched";
  }
  return "unknown";
}

std::string EventWatcher::MaskNames(unsigned long long m) {
  std::string s;
  auto add = [&](unsigned long long bit, const char* name) {
    if (m & bit) s += std::string(s.empty() ? "" : ",") + name;
  };
  add(nvmlEventTypeXidCriticalError, "XidCriticalError");
  add(nvmlEventTypeSingleBitEccError, "SingleBitEccError");
  add(nvmlEventTypeDoubleBitEccError, "DoubleBitEccError");
  add(nvmlEventTypeGpuUnavailableError, "GpuUnavailableError");
  add(nvmlEventTypeGpuRecoveryAction, "GpuRecoveryAction");
  return s.empty() ? "none" : s;
}

EventWatcher::EventWatcher(const NvmlDevices& nvml, std::vector<GpuInfo> gpus, Handler h, ErrorHandler e,
                           unsigned int wait_timeout_ms)
    : nvml_(nvml), gpus_(std::move(gpus)), handler_(std::move(h)), on_error_(std::move(e)), wait_ms_(wait_timeout_ms) {}

EventWatcher::~EventWatcher() { Stop(); }

bool EventWatcher::Start(std::string* error) {
  const NvmlApi& a = nvml_.api();
  accepted_.assign(gpus_.size(), 0);
  excluded_.assign(gpus_.size(), false);
  if (!a.EventSetCreate || !a.DeviceRegisterEvents || !a.EventSetWait) {
    if (error) *error = "NVML library has no event API; health comes from probes only";
    return false;
  }
  if (!MakeSet(&accepted_, error)) return false;
  last_answered_ = std::chrono::steady_clock::now().time_since_epoch().count();
  running_ = true;
  thread_ = std::thread([this] { Run(); });
  return true;
}

bool EventWatcher::MakeSet(std::vector<unsigned long long>* accepted, std::string* error) {
  const NvmlApi& a = nvml_.api();
  nvmlEventSet_t old = set_;
  set_ = nullptr;
  nvmlReturn_t r = a.EventSetCreate(&set_);
  if (r != NVML_SUCCESS) {
    if (error) *error = "nvmlEventSetCreate: " + nvml_.lib().ErrorString(r);
    set_ = old;  // still the one to wait on and to free
    return false;
  }
  for (size_t i = 0; i < gpus_.size(); ++i) {
    if (excluded_[i]) continue;
    (*accepted)[i] = 0;
    unsigned long long supported = kWanted;
    if (a.DeviceGetSupportedEventTypes) {
      unsigned long long s = 0;
      if (a.DeviceGetSupportedEventTypes(gpus_[i].handle, &s) == NVML_SUCCESS) supported = s;
    }
    unsigned long long mask = kWanted & supported;
    // Register the whole mask; when the driver refuses it, fall back to one
    // type at a time so one unsupported type does not cost the others.
    const nvmlReturn_t whole = mask ? a.DeviceRegisterEvents(gpus_[i].handle, mask, set_) : NVML_ERROR_NOT_SUPPORTED;
    if (whole == NVML_SUCCESS) {
      (*accepted)[i] = mask;
      continue;
    }
    if (whole == NVML_ERROR_GPU_IS_LOST) {  // lost since it was listed: report it, watch the rest
      excluded_[i] = true;
      handler_({NvmlEvent::Kind::kGpuLost, i, 0});
      continue;
    }
    for (unsigned long long bit = 1; bit && bit <= kWanted; bit <<= 1) {
      if (!(mask & bit)) continue;
      if (a.DeviceRegisterEvents(gpus_[i].handle, bit, set_) == NVML_SUCCESS) (*accepted)[i] |= bit;
    }
  }
  if (old) {
    // Every GPU is registered in the new set now: what reached only the old one is read
    // (a set holding a lost GPU hands out its queued events before it answers GPU_IS_LOST),
    // then the GPUs are probed for what no event said. An event that came in between may
    // be delivered twice; none is missed.
    nvmlEventData_t d{};
    while (a.EventSetWait(old, &d, 0) == NVML_SUCCESS) Deliver(d);
    if (a.EventSetFree) a.EventSetFree(old);
    for (size_t i = 0; i < gpus_.size(); ++i)
      if (!excluded_[i]) handler_({NvmlEvent::Kind::kRewatched, i, 0});
  }
  std::string uncovered;
  for (size_t i = 0; i < gpus_.size(); ++i)
    if (!excluded_[i] && !((*accepted)[i] & nvmlEventTypeXidCriticalError))
      uncovered += (uncovered.empty() ? "" : ",") + std::to_string(gpus_[i].index);
  std::lock_guard<std::mutex> lk(mu_);
  uncovered_ = uncovered;
  return true;
}

void EventWatcher::Deliver(const nvmlEventData_t& d) {
  size_t gpu = gpus_.size();
  for (size_t i = 0; i < gpus_.size(); ++i)
    if (gpus_[i].handle == d.device) gpu = i;
  if (gpu == gpus_.size()) {
    if (on_error_) on_error_("event for an unknown device handle", true);
    return;
  }
  NvmlEvent ev{NvmlEvent::Kind::kXid, gpu, d.eventData};
  // ECC events are ECC, whatever eventData holds; check them first.
  if (d.eventType & nvmlEventTypeDoubleBitEccError) ev.kind = NvmlEvent::Kind::kDoubleBitEcc;
  else if (d.eventType & nvmlEventTypeSingleBitEccError) ev.kind = NvmlEvent::Kind::kSingleBitEcc;
  else if (d.eventType & nvmlEventTypeGpuUnavailableError) ev.kind = NvmlEvent::Kind::kGpuUnavailable;
  else if (d.eventType & nvmlEventTypeGpuRecoveryAction) ev.kind = NvmlEvent::Kind::kRecoveryAction;
  else if (d.eventType & nvmlEventTypeXidCriticalError) ev.kind = NvmlEvent::Kind::kXid;
  else return;
  handler_(ev);
}

void EventWatcher::Add(std::vector<GpuInfo> gpus) {
  std::unique_lock<std::mutex> lk(mu_);
  pending_.insert(pending_.end(), gpus.begin(), gpus.end());
  added_ += gpus.size();
  if (!running_) return;
  const uint64_t want = added_;
  added_cv_.wait_for(lk, std::chrono::seconds(2), [&] { return watched_ >= want || stop_; });
}

std::string EventWatcher::CoverageProblem() const {
  std::lock_guard<std::mutex> lk(mu_);
  return uncovered_.empty() ? "" : "no Xid events registered for GPU index " + uncovered_;
}

void EventWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  added_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (set_ && nvml_.api().EventSetFree) nvml_.api().EventSetFree(set_);
  set_ = nullptr;
}

void EventWatcher::Report(const std::string& what) {
  const bool changed = what != last_error_;
  last_error_ = what;
  if (!what.empty() && on_error_) on_error_(what, changed);
}

bool EventWatcher::DropLostGpus() {
  // The wait does not say which GPU: ask each one still in the set.
  bool found = false;
  for (size_t i = 0; i < gpus_.size(); ++i) {
    if (excluded_[i] || !nvml_.IsLost(gpus_[i].handle)) continue;
    excluded_[i] = true;
    handler_({NvmlEvent::Kind::kGpuLost, i, 0});
    found = true;
  }
  return found;
}

void EventWatcher::Run() {
  const NvmlApi& a = nvml_.api();
  bool remake = false;  // the set must be made again (without the lost GPUs)
  std::vector<unsigned long long> accepted = accepted_;
  uint64_t taken = 0;  // GPUs taken from pending_ so far
  while (!stop_) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      taken += pending_.size();
      for (auto& g : pending_) {
        gpus_.push_back(std::move(g));
        excluded_.push_back(false);
        accepted.push_back(0);
        remake = true;
      }
      pending_.clear();
    }
    if (remake) {
      std::string err;
      if (!MakeSet(&accepted, &err)) {
        Report(err);
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms_));
        continue;
      }
      remake = false;
      {
        std::lock_guard<std::mutex> lk(mu_);
        watched_ = taken;
      }
      added_cv_.notify_all();
    }
    nvmlEventData_t d{};
    nvmlReturn_t r = a.EventSetWait(set_, &d, wait_ms_);
    // Only an event or a timeout is an answer: a set answering GPU_IS_LOST sees nothing else.
    if (r == NVML_SUCCESS || r == NVML_ERROR_TIMEOUT) {
      last_answered_ = std::chrono::steady_clock::now().time_since_epoch().count();
      Report("");
    }
    if (r == NVML_ERROR_TIMEOUT) continue;
    if (r == NVML_ERROR_GPU_IS_LOST) {
      // A driver answers GPU_IS_LOST to every wait on a set holding a lost GPU: make the
      // set again without it, or no other GPU's event is ever seen again.
      if (DropLostGpus()) {
        remake = true;
        Report("nvmlEventSetWait: GPU is lost; event set made again without it");
        continue;
      }
      Report("nvmlEventSetWait: GPU is lost, but no GPU answers so");
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms_));
      continue;
    }
    if (r != NVML_SUCCESS) {
      Report("nvmlEventSetWait: " + nvml_.lib().ErrorString(r));
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms_));
      continue;
    }
    Deliver(d);
  }
}

}  // namespace deviceapi::nvml
