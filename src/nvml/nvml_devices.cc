#include "nvml/nvml_devices.h"

#include <cstring>

namespace deviceapi::nvml {

std::string ArchitectureName(unsigned int arch) {
  switch (arch) {
    case 2: return "Kepler";
    case 3: return "Maxwell";
    case 4: return "Pascal";
    case 5: return "Volta";
    case 6: return "Turing";
    case 7: return "Ampere";
    case 8: return "Ada";
    case 9: return "Hopper";
    case 10: return "Blackwell";
    default: return "Unknown(" + std::to_string(arch) + ")";
  }
}

std::string FormatCudaVersion(int v) {
  if (v <= 0) return "";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::unique_ptr<NvmlDevices> NvmlDevices::Open(std::unique_ptr<NvmlLibrary> lib, std::string* error) {
  nvmlReturn_t r = lib->api().Init();
  if (r != NVML_SUCCESS) {
    if (error) *error = "nvmlInit_v2 failed: " + lib->ErrorString(r);
    return nullptr;
  }
  return std::unique_ptr<NvmlDevices>(new NvmlDevices(std::move(lib)));
}

NvmlDevices::~NvmlDevices() {
  if (lib_) lib_->api().Shutdown();
}

namespace {
// Reads a string attribute into a fixed buffer; empty on any failure.
template <typename Fn>
std::string ReadString(Fn fn, nvmlDevice_t dev, unsigned int size) {
  if (!fn) return "";
  std::string buf(size, '\0');
  if (fn(dev, buf.data(), size) != NVML_SUCCESS) return "";
  buf.resize(strnlen(buf.c_str(), size));
  return buf;
}
}  // namespace

std::vector<GpuInfo> NvmlDevices::Enumerate(std::vector<std::string>* warnings, Gaps* gaps) const {
  const NvmlApi& a = api();
  std::vector<GpuInfo> out;
  if (gaps) *gaps = Gaps{};
  unsigned int count = 0;
  nvmlReturn_t r = a.DeviceGetCount(&count);
  if (r != NVML_SUCCESS) {
    if (warnings) warnings->push_back("nvmlDeviceGetCount_v2: " + lib_->ErrorString(r));
    if (gaps) gaps->count_failed = true;
    return out;
  }
  std::string driver, cuda;
  if (a.SystemGetDriverVersion) {
    char buf[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = {};
    if (a.SystemGetDriverVersion(buf, sizeof buf) == NVML_SUCCESS) driver = buf;
  }
  if (a.SystemGetCudaDriverVersion) {
    int v = 0;
    if (a.SystemGetCudaDriverVersion(&v) == NVML_SUCCESS) cuda = FormatCudaVersion(v);
  }
  for (unsigned int i = 0; i < count; ++i) {
    GpuInfo g;
    g.index = i;
    // Only GPU_IS_LOST says the GPU is gone; any other error (a driver still bringing the GPU
    // up, a passing failure) says nothing about it, and must not get it marked lost.
    const auto skip = [&](const std::string& what, nvmlReturn_t why) {
      if (warnings) warnings->push_back("GPU " + std::to_string(i) + ": " + what + ": " + lib_->ErrorString(why) + "; skipped");
      if (gaps) ++(why == NVML_ERROR_GPU_IS_LOST ? gaps->unidentified : gaps->unreadable);
    };
    r = a.DeviceGetHandleByIndex(i, &g.handle);
    if (r != NVML_SUCCESS) {
      skip("nvmlDeviceGetHandleByIndex_v2", r);
      continue;
    }
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    r = a.DeviceGetUUID(g.handle, uuid, sizeof uuid);
    g.uuid.assign(uuid, strnlen(uuid, sizeof uuid));
    if (r != NVML_SUCCESS || g.uuid.empty()) {
      skip("nvmlDeviceGetUUID", r == NVML_SUCCESS ? NVML_ERROR_UNKNOWN : r);
      continue;
    }
    g.name = ReadString(a.DeviceGetName, g.handle, NVML_DEVICE_NAME_V2_BUFFER_SIZE);
    g.serial = ReadString(a.DeviceGetSerial, g.handle, NVML_DEVICE_SERIAL_BUFFER_SIZE);
    g.vbios_version = ReadString(a.DeviceGetVbiosVersion, g.handle, NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE);
    g.board_part_number = ReadString(a.DeviceGetBoardPartNumber, g.handle, NVML_DEVICE_PART_NUMBER_BUFFER_SIZE);
    if (a.DeviceGetPciInfo) {
      nvmlPciInfo_t pci{};
      if (a.DeviceGetPciInfo(g.handle, &pci) == NVML_SUCCESS)
        g.pci_bus_id = std::string(pci.busId, strnlen(pci.busId, sizeof pci.busId));
    }
    if (a.DeviceGetMemoryInfo) {
      nvmlMemory_t m{};
      if (a.DeviceGetMemoryInfo(g.handle, &m) == NVML_SUCCESS) g.memory_total_bytes = m.total;
    }
    if (a.DeviceGetArchitecture) {
      nvmlDeviceArchitecture_t arch = 0;
      if (a.DeviceGetArchitecture(g.handle, &arch) == NVML_SUCCESS) g.architecture = ArchitectureName(arch);
    }
    if (a.DeviceGetMinorNumber) {
      unsigned int minor = 0;
      if (a.DeviceGetMinorNumber(g.handle, &minor) == NVML_SUCCESS) g.minor_number = static_cast<int>(minor);
    }
    g.driver_version = driver;
    g.cuda_driver_version = cuda;
    out.push_back(std::move(g));
  }
  return out;
}

std::optional<RecoveryAction> NvmlDevices::ReadRecoveryAction(nvmlDevice_t dev, nvmlReturn_t* result) const {
  const NvmlApi& a = api();
  nvmlReturn_t unused;
  nvmlReturn_t& r = result ? *result : unused;
  r = NVML_ERROR_NOT_SUPPORTED;
  if (!a.DeviceGetFieldValues) return std::nullopt;
  nvmlFieldValue_t fv{};
  fv.fieldId = NVML_FI_DEV_GET_GPU_RECOVERY_ACTION;
  r = a.DeviceGetFieldValues(dev, 1, &fv);
  if (r == NVML_SUCCESS) r = fv.nvmlReturn;
  if (r != NVML_SUCCESS) return std::nullopt;
  unsigned int v = fv.value.uiVal;
  if (v > 4) v = 1;  // an action newer than this build knows: at least a reset
  return static_cast<RecoveryAction>(v);
}

bool NvmlDevices::IsLost(nvmlDevice_t dev) const {
  const NvmlApi& a = api();
  char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  return a.DeviceGetUUID(dev, buf, sizeof buf) == NVML_ERROR_GPU_IS_LOST;
}

std::optional<ProbeResult> NvmlDevices::Probe(nvmlDevice_t dev, bool* lost) const {
  const NvmlApi& a = api();
  *lost = false;
  ProbeResult p;
  // Only "this GPU or driver has no such counter" reads as clean; any other error (UNKNOWN,
  // RESET_REQUIRED, NO_PERMISSION, ...) hides what the counter says.
  const auto unreadable = [&](nvmlReturn_t r, const char* what) {
    if (r == NVML_SUCCESS || r == NVML_ERROR_NOT_SUPPORTED || r == NVML_ERROR_FUNCTION_NOT_FOUND) return;
    p.unreadable += (p.unreadable.empty() ? "" : "; ") + std::string(what) + ": " + lib().ErrorString(r);
  };
  if (a.DeviceGetTotalEccErrors) {
    unsigned long long n = 0;
    nvmlReturn_t r = a.DeviceGetTotalEccErrors(dev, 1 /*uncorrected*/, 0 /*volatile*/, &n);
    if (r == NVML_ERROR_GPU_IS_LOST) { *lost = true; return std::nullopt; }
    if (r == NVML_SUCCESS) p.volatile_uncorrected_ecc = n;
    unreadable(r, "ECC errors");
  }
  if (a.DeviceGetRemappedRows) {
    unsigned int corr = 0, unc = 0, pending = 0, failure = 0;
    nvmlReturn_t r = a.DeviceGetRemappedRows(dev, &corr, &unc, &pending, &failure);
    if (r == NVML_ERROR_GPU_IS_LOST) { *lost = true; return std::nullopt; }
    if (r == NVML_SUCCESS) {
      p.row_remap_pending = pending != 0;
      p.row_remap_failure = failure != 0;
    }
    unreadable(r, "remapped rows");
  }
  if (a.DeviceGetRetiredPagesPendingStatus) {
    nvmlEnableState_t pend = 0;
    nvmlReturn_t r = a.DeviceGetRetiredPagesPendingStatus(dev, &pend);
    if (r == NVML_ERROR_GPU_IS_LOST) { *lost = true; return std::nullopt; }
    if (r == NVML_SUCCESS) p.retired_pages_pending = pend != 0;
    unreadable(r, "retired pages");
  }
  nvmlReturn_t r = NVML_SUCCESS;
  p.recovery_action = ReadRecoveryAction(dev, &r);
  if (r == NVML_ERROR_GPU_IS_LOST) { *lost = true; return std::nullopt; }
  unreadable(r, "recovery action");
  return p;
}

}  // namespace deviceapi::nvml
