// The NVML entry points of the fake libnvidia-ml.so.1. Only these symbols are
// exported (the library is built with hidden visibility).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "control_server.h"
#include "fake_model.h"

using fakenvml::FakeEventSet;
using fakenvml::FakeGpu;
using fakenvml::TheModel;

#define NVML_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
int g_init_count = 0;  // guarded by the model mutex

nvmlReturn_t CopyString(const std::string& s, char* out, unsigned int len) {
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  if (s.size() + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(out, s.c_str(), s.size() + 1);
  return NVML_SUCCESS;
}

// Common prologue of every device call: the lock, the device, support, loss.
#define DEVICE_CALL(fn)                                             \
  auto& m = TheModel();                                             \
  std::lock_guard<std::mutex> lk(m.mu);                             \
  if (g_init_count == 0) return NVML_ERROR_UNINITIALIZED;           \
  FakeGpu* g = m.Gpu(device);                                       \
  if (!g) return NVML_ERROR_INVALID_ARGUMENT;                       \
  m.OnCall(fn);                                                     \
  if (m.Unsupported(fn)) return NVML_ERROR_NOT_SUPPORTED;           \
  if (nvmlReturn_t f = m.Failing(fn)) return f;                     \
  if (g->lost) return NVML_ERROR_GPU_IS_LOST;
}  // namespace

NVML_EXPORT nvmlReturn_t nvmlInit_v2() {
  auto& m = TheModel();
  {
    std::lock_guard<std::mutex> lk(m.mu);
    if (g_init_count > 0) {
      ++g_init_count;
      return NVML_SUCCESS;
    }
  }
  std::string err;
  nvmlReturn_t r = m.Configure(&err);
  if (r != NVML_SUCCESS) {
    fprintf(stderr, "fake-nvml: %s\n", err.empty() ? "init failure requested by scenario" : err.c_str());
    return r;
  }
  if (const char* ctl = getenv("FAKE_NVML_CONTROL"); ctl && *ctl) {
    if (!fakenvml::StartControlServer(ctl, &err)) {
      fprintf(stderr, "fake-nvml: %s\n", err.c_str());
      return NVML_ERROR_UNKNOWN;
    }
  }
  std::lock_guard<std::mutex> lk(m.mu);
  ++g_init_count;
  return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlInit() { return nvmlInit_v2(); }

NVML_EXPORT nvmlReturn_t nvmlShutdown() {
  auto& m = TheModel();
  {
    std::lock_guard<std::mutex> lk(m.mu);
    if (g_init_count == 0) return NVML_ERROR_UNINITIALIZED;
    if (--g_init_count > 0) return NVML_SUCCESS;
  }
  fakenvml::StopControlServer();
  return NVML_SUCCESS;
}

NVML_EXPORT const char* nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
  }
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* v, unsigned int len) {
  auto& m = TheModel();
  std::lock_guard<std::mutex> lk(m.mu);
  if (m.Unsupported("nvmlSystemGetDriverVersion")) return NVML_ERROR_NOT_SUPPORTED;
  return CopyString(m.driver_version, v, len);
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int* v) {
  auto& m = TheModel();
  std::lock_guard<std::mutex> lk(m.mu);
  if (!v) return NVML_ERROR_INVALID_ARGUMENT;
  *v = m.cuda_driver_version;
  return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  auto& m = TheModel();
  std::lock_guard<std::mutex> lk(m.mu);
  if (g_init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = static_cast<unsigned>(m.gpus.size());
  return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t* device) {
  auto& m = TheModel();
  std::lock_guard<std::mutex> lk(m.mu);
  if (g_init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (!device || i >= m.gpus.size()) return NVML_ERROR_INVALID_ARGUMENT;
  *device = reinterpret_cast<nvmlDevice_t>(m.gpus[i].get());
  return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* out, unsigned int len) {
  DEVICE_CALL("nvmlDeviceGetUUID");
  return CopyString(g->uuid, out, len);
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* out, unsigned int len) {
  DEVICE_CALL("nvmlDeviceGetName");
  return CopyString(g->name, out, len);
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char* out, unsigned int len) {
  DEVICE_CALL("nvmlDeviceGetSerial");
  return CopyString(g->serial, out, len);
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t device, char* out, unsigned int len) {
  DEVICE_CALL("nvmlDeviceGetVbiosVersion");
  return CopyString(g->vbios, out, len);
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetBoardPartNumber(nvmlDevice_t device, char* out, unsigned int len) {
  DEVICE_CALL("nvmlDeviceGetBoardPartNumber");
  return CopyString(g->part_number, out, len);
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  DEVICE_CALL("nvmlDeviceGetPciInfo_v3");
  if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
  memset(pci, 0, sizeof *pci);
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "0000:%02X:00.0", g->pci_bus & 0xff);
  snprintf(pci->busId, sizeof pci->busId, "%s", g->pci_bus_id.c_str());
  pci->bus = g->pci_bus;
  pci->pciDeviceId = 0x233010DE;
  pci->pciSubSystemId = 0x16C110DE;
  return NVML_SUCCESS;
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* mem) {
  DEVICE_CALL("nvmlDeviceGetMemoryInfo");
  if (!mem) return NVML_ERROR_INVALID_ARGUMENT;
  mem->total = g->memory_total;
  mem->used = 0;
  mem->free = g->memory_total;
  return NVML_SUCCESS;
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, nvmlDeviceArchitecture_t* arch) {
  DEVICE_CALL("nvmlDeviceGetArchitecture");
  if (!arch) return NVML_ERROR_INVALID_ARGUMENT;
  *arch = g->architecture;
  return NVML_SUCCESS;
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int* minor) {
  DEVICE_CALL("nvmlDeviceGetMinorNumber");
  if (!minor) return NVML_ERROR_INVALID_ARGUMENT;
  *minor = g->index;
  return NVML_SUCCESS;
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int* index) {
  DEVICE_CALL("nvmlDeviceGetIndex");
  if (!index) return NVML_ERROR_INVALID_ARGUMENT;
  *index = g->index;
  return NVML_SUCCESS;
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t type,
                                                      nvmlEccCounterType_t counter, unsigned long long* count) {
  DEVICE_CALL("nvmlDeviceGetTotalEccErrors");
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = type == 1 ? g->volatile_dbe : g->volatile_sbe;
  return NVML_SUCCESS;
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device, nvmlEnableState_t* pending) {
  DEVICE_CALL("nvmlDeviceGetRetiredPagesPendingStatus");
  if (!pending) return NVML_ERROR_INVALID_ARGUMENT;
  *pending = g->retired_pages_pending ? 1 : 0;
  return NVML_SUCCESS;
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int* corr, unsigned int* unc,
                                                    unsigned int* pending, unsigned int* failure) {
  DEVICE_CALL("nvmlDeviceGetRemappedRows");
  if (!corr || !unc || !pending || !failure) return NVML_ERROR_INVALID_ARGUMENT;
  *corr = 0;
  *unc = 0;
  *pending = g->remap_pending;
  *failure = g->remap_failure;
  return NVML_SUCCESS;
}
NVML_EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int n, nvmlFieldValue_t* values) {
  DEVICE_CALL("nvmlDeviceGetFieldValues");
  if (n <= 0 || !values) return NVML_ERROR_INVALID_ARGUMENT;
  for (int i = 0; i < n; ++i) {
    auto& v = values[i];
    v.timestamp = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
    v.latencyUsec = 0;
    if (v.fieldId == NVML_FI_DEV_GET_GPU_RECOVERY_ACTION) {
      v.nvmlReturn = NVML_SUCCESS;
      v.valueType = 1;  // unsigned int
      v.value.uiVal = g->recovery_action;
    } else {
      v.nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
    }
  }
  return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set) {
  auto& m = TheModel();
  std::lock_guard<std::mutex> lk(m.mu);
  if (g_init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (!set) return NVML_ERROR_INVALID_ARGUMENT;
  if (m.Unsupported("nvmlEventSetCreate")) return NVML_ERROR_NOT_SUPPORTED;
  auto s = std::make_unique<FakeEventSet>();
  *set = reinterpret_cast<nvmlEventSet_t>(s.get());
  m.sets_owner.insert(std::move(s));
  return NVML_SUCCESS;
}

namespace {
FakeEventSet* FindSet(fakenvml::Model& m, nvmlEventSet_t set) {
  for (auto& s : m.sets_owner)
    if (reinterpret_cast<nvmlEventSet_t>(s.get()) == set) return s.get();
  return nullptr;
}
}  // namespace

NVML_EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long* types) {
  DEVICE_CALL("nvmlDeviceGetSupportedEventTypes");
  if (!types) return NVML_ERROR_INVALID_ARGUMENT;
  *types = g->supported_events;
  return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set) {
  DEVICE_CALL("nvmlDeviceRegisterEvents");
  FakeEventSet* s = FindSet(m, set);
  if (!s) return NVML_ERROR_INVALID_ARGUMENT;
  // Like the driver: asking for a type the device lacks fails the whole call.
  if (types & ~g->supported_events) return NVML_ERROR_NOT_SUPPORTED;
  s->registered[g] |= types;
  return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t* data, unsigned int timeout_ms) {
  auto& m = TheModel();
  std::unique_lock<std::mutex> lk(m.mu);
  FakeEventSet* s = FindSet(m, set);
  if (!s || !data) return NVML_ERROR_INVALID_ARGUMENT;
  if (m.Unsupported("nvmlEventSetWait_v2")) return NVML_ERROR_NOT_SUPPORTED;  // a wait that keeps failing
  // Like the driver: a set holding a lost GPU answers GPU_IS_LOST to every wait, whatever
  // the other GPUs in it report, until the set is made again without it. Events queued
  // before are read first.
  const auto holds_lost = [](const FakeEventSet* es) {
    for (auto& [g, types] : es->registered)
      if (g->lost) return true;
    return false;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (s->queue.empty()) {
    if (holds_lost(s)) return NVML_ERROR_GPU_IS_LOST;
    if (m.cv.wait_until(lk, deadline) == std::cv_status::timeout && s->queue.empty())
      return holds_lost(s) ? NVML_ERROR_GPU_IS_LOST : NVML_ERROR_TIMEOUT;
    s = FindSet(m, set);
    if (!s) return NVML_ERROR_INVALID_ARGUMENT;  // freed while we waited
  }
  nvmlEventData_t d = s->queue.front();
  s->queue.pop_front();
  *data = d;
  return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  auto& m = TheModel();
  std::lock_guard<std::mutex> lk(m.mu);
  for (auto it = m.sets_owner.begin(); it != m.sets_owner.end(); ++it) {
    if (reinterpret_cast<nvmlEventSet_t>(it->get()) == set) {
      m.sets_owner.erase(it);
      m.cv.notify_all();
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_INVALID_ARGUMENT;
}
