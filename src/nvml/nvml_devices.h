// NVML-backed device access: init/shutdown, enumeration of GPU attributes and
// the health probe NVML needs at startup (it never replays events from before
// registration). Thread-safe as NVML is; holds no mutable state after Open().
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nvml/health_state.h"
#include "nvml/nvml_library.h"

namespace deviceapi::nvml {

struct GpuInfo {
  unsigned int index = 0;
  nvmlDevice_t handle = nullptr;
  std::string uuid;  // as NVML reports it: "GPU-xxxxxxxx-..."
  std::string name;
  std::string pci_bus_id;
  uint64_t memory_total_bytes = 0;
  std::string serial;
  std::string architecture;
  int minor_number = -1;
  std::string vbios_version;
  std::string board_part_number;
  std::string driver_version;
  std::string cuda_driver_version;
};

class NvmlDevices {
 public:
  // Loads nothing itself: takes a loaded library and calls nvmlInit.
  static std::unique_ptr<NvmlDevices> Open(std::unique_ptr<NvmlLibrary> lib, std::string* error);
  ~NvmlDevices();

  // What an enumeration could not see: the list it returns then does not say
  // which GPUs are gone.
  struct Gaps {
    bool count_failed = false;      // nvmlDeviceGetCount failed: no GPU listed at all
    unsigned unidentified = 0;      // GPUs counted whose handle or UUID read answered GPU_IS_LOST
    unsigned unreadable = 0;        // ... answered any other error (may well answer a moment later)
    bool complete() const { return !count_failed && unidentified == 0 && unreadable == 0; }
    // Worth enumerating again: nothing NVML said means a GPU is lost for good.
    bool transient() const { return count_failed || unreadable > 0; }
  };
  // All GPUs NVML reports now. A GPU whose handle or UUID cannot be read is
  // skipped, named in *warnings and counted in *gaps (when given): as
  // unidentified when NVML answers GPU_IS_LOST (a lost GPU), as unreadable
  // for any other error.
  std::vector<GpuInfo> Enumerate(std::vector<std::string>* warnings, Gaps* gaps = nullptr) const;
  // Startup / post-reset probe of one GPU. Queries answering NOT_SUPPORTED or
  // FUNCTION_NOT_FOUND count as clean; any other error is named in `unreadable`,
  // which makes the probe unclean.
  // Returns nullopt with *lost=true when NVML says the GPU is lost.
  std::optional<ProbeResult> Probe(nvmlDevice_t dev, bool* lost) const;
  // GPU recovery action field (id 230); nullopt when it cannot be read, with the reason
  // in *result (NOT_SUPPORTED when NVML has no field values at all).
  std::optional<RecoveryAction> ReadRecoveryAction(nvmlDevice_t dev, nvmlReturn_t* result = nullptr) const;
  // True when a cheap query on `dev` answers GPU_IS_LOST.
  bool IsLost(nvmlDevice_t dev) const;

  const NvmlLibrary& lib() const { return *lib_; }
  const NvmlApi& api() const { return lib_->api(); }

 private:
  explicit NvmlDevices(std::unique_ptr<NvmlLibrary> lib) : lib_(std::move(lib)) {}
  std::unique_ptr<NvmlLibrary> lib_;
};

std::string ArchitectureName(unsigned int arch);
std::string FormatCudaVersion(int v);  // 12040 -> "12.4"

}  // namespace deviceapi::nvml
