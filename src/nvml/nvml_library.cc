#include "nvml/nvml_library.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <initializer_list>

namespace deviceapi::nvml {

namespace {
constexpr const char* kLibName = "libnvidia-ml.so.1";

bool SanitizerBuild() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

// First symbol of `names` that resolves, else nullptr.
template <typename Fn>
bool Resolve(void* h, Fn* out, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (void* p = dlsym(h, n)) {
      *out = reinterpret_cast<Fn>(p);
      return true;
    }
  }
  return false;
}
}  // namespace

std::vector<std::string> NvmlLibrary::CandidatePaths(const std::string& driver_root) {
  std::string root = driver_root.empty() ? "/" : driver_root;
  if (root.back() != '/') root += '/';
  std::vector<std::string> out;
  for (const char* dir : {"usr/lib64", "usr/lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu", "usr/lib", "lib64", "lib"})
    out.push_back(root + dir + "/" + kLibName);
  return out;
}

std::unique_ptr<NvmlLibrary> NvmlLibrary::Load(const NvmlLoadOptions& opts, std::string* error) {
  int flags = RTLD_NOW | RTLD_LOCAL;
  if (opts.deep_bind && !SanitizerBuild()) flags |= RTLD_DEEPBIND;
  std::unique_ptr<NvmlLibrary> lib(new NvmlLibrary());
  std::string tried;
  for (const auto& path : CandidatePaths(opts.driver_root)) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      tried += "\n  " + path + ": not found";
      continue;
    }
    lib->handle_ = dlopen(path.c_str(), flags);
    if (lib->handle_) {
      lib->path_ = path;
      break;
    }
    const char* e = dlerror();
    tried += "\n  " + path + ": " + (e ? e : "dlopen failed");
  }
  if (!lib->handle_ && opts.allow_default_search) {
    lib->handle_ = dlopen(kLibName, flags);
    if (lib->handle_) {
      lib->path_ = kLibName;
    } else {
      const char* e = dlerror();
      tried += std::string("\n  ") + kLibName + " (default search): " + (e ? e : "dlopen failed");
    }
  }
  if (!lib->handle_) {
    if (error)
      *error = "NVML library libnvidia-ml.so.1 not found under driver root '" + opts.driver_root +
               "' (set NVIDIA_DRIVER_ROOT or --driver-root); tried:" + tried;
    return nullptr;
  }

  void* h = lib->handle_;
  NvmlApi& a = lib->api_;
  std::string missing;
  auto need = [&](bool ok, const char* name) {
    if (!ok) missing += std::string(missing.empty() ? "" : ", ") + name;
  };
  need(Resolve(h, &a.Init, {"nvmlInit_v2", "nvmlInit"}), "nvmlInit_v2");
  need(Resolve(h, &a.Shutdown, {"nvmlShutdown"}), "nvmlShutdown");
  need(Resolve(h, &a.ErrorString, {"nvmlErrorString"}), "nvmlErrorString");
  need(Resolve(h, &a.DeviceGetCount, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}), "nvmlDeviceGetCount_v2");
  need(Resolve(h, &a.DeviceGetHandleByIndex, {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"}),
       "nvmlDeviceGetHandleByIndex_v2");
  need(Resolve(h, &a.DeviceGetUUID, {"nvmlDeviceGetUUID"}), "nvmlDeviceGetUUID");
  if (!missing.empty()) {
    if (error) *error = "NVML library " + lib->path_ + " lacks required entry points: " + missing;
    return nullptr;  // destructor closes the handle
  }
  Resolve(h, &a.SystemGetDriverVersion, {"nvmlSystemGetDriverVersion"});
  Resolve(h, &a.SystemGetCudaDriverVersion, {"nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"});
  Resolve(h, &a.DeviceGetName, {"nvmlDeviceGetName"});
  Resolve(h, &a.DeviceGetPciInfo, {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo"});
  Resolve(h, &a.DeviceGetMemoryInfo, {"nvmlDeviceGetMemoryInfo"});
  Resolve(h, &a.DeviceGetSerial, {"nvmlDeviceGetSerial"});
  Resolve(h, &a.DeviceGetArchitecture, {"nvmlDeviceGetArchitecture"});
  Resolve(h, &a.DeviceGetMinorNumber, {"nvmlDeviceGetMinorNumber"});
  Resolve(h, &a.DeviceGetIndex, {"nvmlDeviceGetIndex"});
  Resolve(h, &a.DeviceGetVbiosVersion, {"nvmlDeviceGetVbiosVersion"});
  Resolve(h, &a.DeviceGetBoardPartNumber, {"nvmlDeviceGetBoardPartNumber"});
  Resolve(h, &a.DeviceGetTotalEccErrors, {"nvmlDeviceGetTotalEccErrors"});
  Resolve(h, &a.DeviceGetRetiredPagesPendingStatus, {"nvmlDeviceGetRetiredPagesPendingStatus"});
  Resolve(h, &a.DeviceGetRemappedRows, {"nvmlDeviceGetRemappedRows"});
  Resolve(h, &a.DeviceGetFieldValues, {"nvmlDeviceGetFieldValues"});
  Resolve(h, &a.EventSetCreate, {"nvmlEventSetCreate"});
  Resolve(h, &a.DeviceGetSupportedEventTypes, {"nvmlDeviceGetSupportedEventTypes"});
  Resolve(h, &a.DeviceRegisterEvents, {"nvmlDeviceRegisterEvents"});
  Resolve(h, &a.EventSetWait, {"nvmlEventSetWait_v2", "nvmlEventSetWait"});
  Resolve(h, &a.EventSetFree, {"nvmlEventSetFree"});
  return lib;
}

NvmlLibrary::~NvmlLibrary() {
  if (handle_) dlclose(handle_);
}

std::string NvmlLibrary::ErrorString(nvmlReturn_t r) const {
  const char* s = api_.ErrorString ? api_.ErrorString(r) : nullptr;
  return (s ? std::string(s) : std::string("NVML error")) + " (" + std::to_string(r) + ")";
}

}  // namespace deviceapi::nvml
