#pragma once
// The simulated machine behind the fake libnvidia-ml.so.1: N GPUs with
// realistic, deterministic attributes, their health counters, and the event
// queues NVML event sets read. Configured from a JSON scenario; changed at run
// time by commands (the same JSON shape as the control socket carries).
// Thread-safe: one mutex guards everything, event waits use a condvar.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nvml/nvml_abi.h"  // the same ABI subset the provider declares

namespace fakenvml {

struct FakeGpu {
  unsigned int index = 0;
  std::string uuid, name, serial, pci_bus_id, vbios, part_number;
  unsigned int pci_bus = 0;
  unsigned long long memory_total = 0;
  unsigned int architecture = 9;
  unsigned long long supported_events = 0;
  // Health state the startup probe reads.
  unsigned long long volatile_dbe = 0, volatile_sbe = 0;
  bool retired_pages_pending = false, remap_pending = false, remap_failure = false;
  unsigned int recovery_action = 0;
  bool lost = false;
};

struct FakeEventSet {
  std::map<const FakeGpu*, unsigned long long> registered;
  // Pending events. Once they are read, a wait answers GPU_IS_LOST while any registered GPU is lost.
  std::deque<nvmlEventData_t> queue;
};

class Model {
 public:
  // Reads FAKE_NVML_SCENARIO (a JSON file) or FAKE_NVML_GPUS; returns an
  // NVML error code and a message on malformed input.
  nvmlReturn_t Configure(std::string* error);
  // Applies one command, e.g. {"op":"xid","gpu":0,"xid":79}. Returns "ok" or "error: ...".
  std::string Apply(const std::string& json_line);

  // NVML entry points' helpers; all take the lock.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<FakeGpu>> gpus;
  std::set<std::unique_ptr<FakeEventSet>> sets_owner;
  std::set<std::string> not_supported;  // entry point names answering NOT_SUPPORTED
  std::map<std::string, nvmlReturn_t> failing;  // device entry points answering another error
  std::string driver_version = "550.127.08";
  int cuda_driver_version = 12040;
  nvmlReturn_t init_error = NVML_SUCCESS;
  // An Xid that happens while the provider is busy elsewhere: emitted (once) when the named
  // device call is first made, as registered sets then stand (scenario "xid_on_call", or the
  // control op of that name, which arms it from then on).
  struct XidOnCall {
    std::string call;
    unsigned int gpu = 0;
    unsigned long long xid = 0;
  };
  std::optional<XidOnCall> xid_on_call;

  FakeGpu* Gpu(nvmlDevice_t d);  // nullptr when not ours; caller holds mu
  bool Unsupported(const char* fn) { return not_supported.count(fn) > 0; }
  // The error a device entry point is made to answer; NVML_SUCCESS when none.
  nvmlReturn_t Failing(const char* fn) const {
    auto it = failing.find(fn);
    return it == failing.end() ? NVML_SUCCESS : it->second;
  }
  // Fires xid_on_call when `fn` is its call. Caller holds mu.
  void OnCall(const char* fn);
  // Queues an event for every set registered for (gpu, type). Caller holds mu.
  void Emit(FakeGpu* g, unsigned long long type, unsigned long long data);

 private:
  std::string ApplyLocked(const std::string& json_line);
};

Model& TheModel();

// Deterministic attributes for GPU i of a machine seeded with `seed`.
std::string MakeUuid(uint64_t seed, unsigned int index);

}  // namespace fakenvml
