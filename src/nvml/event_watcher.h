// Waits for NVML events on one thread: Xid critical errors, single/double-bit
// ECC, GPU unavailable and GPU recovery action (each masked by what the device
// supports). Waits with a short timeout so Stop() returns promptly.
#pragma once
#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nvml/nvml_devices.h"

namespace deviceapi::nvml {

struct NvmlEvent {
  // kRewatched: the GPU's events are watched by a set made again (after another GPU was
  // lost); whatever the driver could not deliver meanwhile is for a probe to read.
  enum class Kind { kXid, kSingleBitEcc, kDoubleBitEcc, kGpuUnavailable, kRecoveryAction, kGpuLost, kRewatched };
  Kind kind;
  size_t gpu = 0;          // index into the GPU list given to Start()
  uint64_t data = 0;       // Xid number, recovery action, ...
};

std::string_view EventKindName(NvmlEvent::Kind k);

class EventWatcher {
 public:
  using Handler = std::function<void(const NvmlEvent&)>;
  // Called for each failure of the wait itself (counted as NVML errors);
  // `changed` is false while the same failure repeats, so it is logged once.
  using ErrorHandler = std::function<void(const std::string& what, bool changed)>;

  EventWatcher(const NvmlDevices& nvml, std::vector<GpuInfo> gpus, Handler h, ErrorHandler e,
               unsigned int wait_timeout_ms = 100);
  ~EventWatcher();

  // Creates the event set and registers every GPU; a GPU whose registration
  // answers GPU_IS_LOST is reported kGpuLost (on the calling thread) and left
  // out. Returns false when no event set can be made at all.
  bool Start(std::string* error);
  void Stop();
  // Watches GPUs found after Start() as well: they are appended in the order given (their
  // NvmlEvent::gpu indexes follow the others'), the set is made again with them, and every
  // GPU watched is reported kRewatched. Any thread; done on the watcher's thread, and
  // returns once it is (or after 2 s, or at once when the watcher does not run), so that
  // the caller publishes them only once their events are seen.
  void Add(std::vector<GpuInfo> gpus);

  // When the last wait answered (an event, or its timeout): a wait that keeps
  // failing means faults are no longer seen. GPU_IS_LOST is not an answer: the
  // set is made again without the lost GPUs (they are reported kGpuLost and
  // watched no more), and the wait counts as answered once the new set answers.
  // Meaningful after Start() succeeded.
  std::chrono::steady_clock::time_point LastAnsweredWait() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_answered_.load()));
  }

  // Why some GPU's Xid errors go unseen ("" when every GPU still watched has
  // its Xid events registered): a GPU the driver refused them for. Any thread.
  std::string CoverageProblem() const;

  // Event types each GPU accepted at Start(), in GPU order (for logs and gpu-check).
  const std::vector<unsigned long long>& accepted() const { return accepted_; }
  static std::string MaskNames(unsigned long long mask);

 private:
  void Run();
  // (Re)creates set_ with every GPU not excluded; their accepted types in *accepted. The
  // old set stays registered until the new one is, and what it queued meanwhile is read
  // (Deliver) before it is freed, so that no GPU goes unwatched in between.
  bool MakeSet(std::vector<unsigned long long>* accepted, std::string* error);
  // Hands one event the set returned to the handler (nothing for an unknown device).
  void Deliver(const nvmlEventData_t& d);
  bool DropLostGpus();               // excludes and reports GPUs answering GPU_IS_LOST
  void Report(const std::string& what);  // on_error_ for a failure; "" when a wait answered

  const NvmlDevices& nvml_;
  std::vector<GpuInfo> gpus_;
  Handler handler_;
  ErrorHandler on_error_;
  unsigned int wait_ms_;
  nvmlEventSet_t set_ = nullptr;
  std::vector<unsigned long long> accepted_;
  std::vector<bool> excluded_;  // lost GPUs, left out of the set; thread only after Start()
  std::string last_error_;      // thread only
  mutable std::mutex mu_;
  std::string uncovered_;       // indexes of GPUs without Xid events, guarded by mu_
  std::vector<GpuInfo> pending_;  // from Add(), not yet in gpus_; guarded by mu_
  uint64_t added_ = 0, watched_ = 0;  // GPUs given to Add() / in a set made since; mu_
  std::condition_variable added_cv_;
  std::atomic<bool> running_{false};
  std::atomic<std::chrono::steady_clock::rep> last_answered_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace deviceapi::nvml
