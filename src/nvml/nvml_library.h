// Loads libnvidia-ml.so.1 at run time and resolves the entry points this
// project uses. Search order: $driver_root/{usr/lib64, usr/lib/x86_64-linux-gnu,
// usr/lib/aarch64-linux-gnu, usr/lib, lib64, lib}, then the dynamic loader's
// default search. Versioned entry points (nvmlInit_v2, ..._v2/_v3) are preferred,
// older names are the fallback. A missing library or required symbol is an
// error value with every path tried, never a crash. Optional entry points may
// be null: callers treat null as NVML_ERROR_FUNCTION_NOT_FOUND.
//
// Thread safety: immutable after Load(); NVML itself is thread-safe.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nvml/nvml_abi.h"

namespace deviceapi::nvml {

struct NvmlApi {
  // Required.
  nvmlReturn_t (*Init)() = nullptr;
  nvmlReturn_t (*Shutdown)() = nullptr;
  const char* (*ErrorString)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*DeviceGetCount)(unsigned int*) = nullptr;
  nvmlReturn_t (*DeviceGetHandleByIndex)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*DeviceGetUUID)(nvmlDevice_t, char*, unsigned int) = nullptr;
  // Optional.
  nvmlReturn_t (*SystemGetDriverVersion)(char*, unsigned int) = nullptr;
  nvmlReturn_t (*SystemGetCudaDriverVersion)(int*) = nullptr;
  nvmlReturn_t (*DeviceGetName)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*DeviceGetPciInfo)(nvmlDevice_t, nvmlPciInfo_t*) = nullptr;
  nvmlReturn_t (*DeviceGetMemoryInfo)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*DeviceGetSerial)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*DeviceGetArchitecture)(nvmlDevice_t, nvmlDeviceArchitecture_t*) = nullptr;
  nvmlReturn_t (*DeviceGetMinorNumber)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*DeviceGetIndex)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*DeviceGetVbiosVersion)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*DeviceGetBoardPartNumber)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*DeviceGetTotalEccErrors)(nvmlDevice_t, nvmlMemoryErrorType_t, nvmlEccCounterType_t,
                                          unsigned long long*) = nullptr;
  nvmlReturn_t (*DeviceGetRetiredPagesPendingStatus)(nvmlDevice_t, nvmlEnableState_t*) = nullptr;
  nvmlReturn_t (*DeviceGetRemappedRows)(nvmlDevice_t, unsigned int*, unsigned int*, unsigned int*,
                                        unsigned int*) = nullptr;
  nvmlReturn_t (*DeviceGetFieldValues)(nvmlDevice_t, int, nvmlFieldValue_t*) = nullptr;
  nvmlReturn_t (*EventSetCreate)(nvmlEventSet_t*) = nullptr;
  nvmlReturn_t (*DeviceGetSupportedEventTypes)(nvmlDevice_t, unsigned long long*) = nullptr;
  nvmlReturn_t (*DeviceRegisterEvents)(nvmlDevice_t, unsigned long long, nvmlEventSet_t) = nullptr;
  nvmlReturn_t (*EventSetWait)(nvmlEventSet_t, nvmlEventData_t*, unsigned int) = nullptr;
  nvmlReturn_t (*EventSetFree)(nvmlEventSet_t) = nullptr;
};

struct NvmlLoadOptions {
  std::string driver_root = "/";
  // RTLD_DEEPBIND keeps the driver's symbols from binding to ours. Sanitizer
  // runtimes refuse it, so Load() drops it automatically in sanitized builds.
  bool deep_bind = true;
  // Skip the loader's default search (tests use this to prove "missing").
  bool allow_default_search = true;
};

class NvmlLibrary {
 public:
  // Returns nullptr and a message naming every path tried / missing symbol.
  static std::unique_ptr<NvmlLibrary> Load(const NvmlLoadOptions& opts, std::string* error);
  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  const NvmlApi& api() const { return api_; }
  const std::string& path() const { return path_; }
  // nvmlErrorString, tolerant of a null function.
  std::string ErrorString(nvmlReturn_t r) const;
  // Candidate paths for a driver root, in search order.
  static std::vector<std::string> CandidatePaths(const std::string& driver_root);

 private:
  NvmlLibrary() = default;
  void* handle_ = nullptr;
  std::string path_;
  NvmlApi api_;
};

}  // namespace deviceapi::nvml
