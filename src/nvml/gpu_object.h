// Mapping between what NVML says about a GPU and the API object that
// represents it. Pure functions over the SDK's message types.
//
// Ownership: this provider owns the condition type NVMLReady and
// status.device_info. It shares status.recommended_action with other
// providers: it writes its own action when it is at least as severe as the
// one present, and clears the field only when the value there is the one it
// wrote (remembered inside its own condition's message).
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include "deviceapi/types.h"
#include "nvml/health_state.h"
#include "nvml/nvml_devices.h"

namespace deviceapi::nvml {

inline constexpr const char* kReadyCondition = "NVMLReady";
inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
// In the message of a GPU marked lost because NVML listed a GPU it could not identify: a
// guess, which a later run that identifies the GPU and probes it clean drops.
inline constexpr const char* kCannotIdentifyMarker = "NVML lists a GPU it cannot identify";

// Object name for an NVML UUID: the UUID in lower case (a DNS-1123 subdomain).
std::string ObjectName(const std::string& uuid);

DeviceInfo ToDeviceInfo(const GpuInfo& g);

// A new object for `g` (metadata, labels, spec; no status).
Gpu NewGpuObject(const GpuInfo& g, const std::string& namespace_name, const std::string& provider_name);

// Brings `st` in line with `v` and `info`. Returns true when anything changed.
bool ApplyHealth(GpuStatus* st, const HealthVerdict& v, const DeviceInfo& info,
                 std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The action this provider recorded in its NVMLReady message ("" if none).
std::string OwnRecordedAction(const GpuStatus& st);

// A fault this provider reported before it restarted, still in force when the
// node has not rebooted since (the condition turned False after `boot_time`).
// NVML never replays events, so this is how reset/reboot-class faults survive
// a provider restart until the GPU is reset. When the provider was away long
// enough for the server to expire its lease, NVMLReady is Unknown and the fault
// is read from what the expiry's message says the condition was before (the
// same holds for OwnRecordedAction).
std::optional<Fault> CarriedOverFault(const GpuStatus& st, std::chrono::system_clock::time_point boot_time);

// Boot time of this machine from /proc/stat (epoch when unknown).
std::chrono::system_clock::time_point SystemBootTime();

}  // namespace deviceapi::nvml
