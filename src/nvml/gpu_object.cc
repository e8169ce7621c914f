#include "nvml/gpu_object.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include "deviceapi/conditions.h"

namespace deviceapi::nvml {

namespace {
constexpr const char* kActionTag = " [recommended action: ";
// The server's lease expiry (docs/api.md, "Leases"): NVMLReady turns Unknown with this reason,
// and its message ends with the condition as it was.
constexpr const char* kLeaseExpiredReason = "ProviderLeaseExpired";
constexpr const char* kPreviousStateMarker = "; before: ";

// The condition as it was before the server's lease expiry rewrote it: status, reason,
// transition time and message, parsed from the expiry's message
// ("...; before: STATUS REASON since TIME: MESSAGE"). nullopt for any other condition.
std::optional<Condition> BeforeLeaseExpiry(const Condition& c) {
  if (c.status() != kConditionUnknown || c.reason() != kLeaseExpiredReason) return std::nullopt;
  const std::string& m = c.message();
  auto pos = m.find(kPreviousStateMarker);
  if (pos == std::string::npos) return std::nullopt;
  pos += std::string(kPreviousStateMarker).size();
  auto colon = m.find(": ", pos);
  if (colon == std::string::npos) return std::nullopt;
  std::istringstream head(m.substr(pos, colon - pos));
  std::string status, reason, since_word, since;
  head >> status >> reason >> since_word >> since;
  if (status.empty() || reason.empty()) return std::nullopt;
  Condition before;
  before.set_type(c.type());
  before.set_status(status);
  if (reason != "-") before.set_reason(reason);
  if (since_word == "since") {
    google::protobuf::Timestamp t;
    if (google::protobuf::util::TimeUtil::FromString(since, &t)) *before.mutable_last_transition_time() = t;
  }
  before.set_message(m.substr(colon + 2));
  return before;
}

// NVMLReady as this provider last wrote it: the condition itself, or what it was before the
// server expired the provider's lease.
const Condition* OwnReadyCondition(const GpuStatus& st, std::optional<Condition>* storage) {
  const Condition* c = FindCondition(st, kReadyCondition);
  if (!c) return nullptr;
  *storage = BeforeLeaseExpiry(*c);
  return *storage ? &**storage : c;
}
}  // namespace

std::string ObjectName(const std::string& uuid) {
  std::string n = uuid;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  return n;
}

DeviceInfo ToDeviceInfo(const GpuInfo& g) {
  DeviceInfo d;
  d.set_product_name(g.name);
  d.set_pci_bus_id(g.pci_bus_id);
  d.set_memory_total_bytes(g.memory_total_bytes);
  d.set_driver_version(g.driver_version);
  d.set_cuda_driver_version(g.cuda_driver_version);
  d.set_serial(g.serial);
  d.set_architecture(g.architecture);
  d.set_minor_number(g.minor_number);
  d.set_index(static_cast<int32_t>(g.index));
  d.set_vbios_version(g.vbios_version);
  d.set_board_part_number(g.board_part_number);
  return d;
}

Gpu NewGpuObject(const GpuInfo& g, const std::string& namespace_name, const std::string& provider_name) {
  Gpu gpu;
  gpu.mutable_metadata()->set_name(ObjectName(g.uuid));
  gpu.mutable_metadata()->set_namespace_(namespace_name);
  (*gpu.mutable_metadata()->mutable_labels())[kManagedByLabel] = provider_name;
  gpu.mutable_spec()->set_uuid(g.uuid);
  return gpu;
}

std::string OwnRecordedAction(const GpuStatus& st) {
  std::optional<Condition> before;
  const Condition* c = OwnReadyCondition(st, &before);
  if (!c) return "";
  const std::string& m = c->message();
  auto pos = m.rfind(kActionTag);
  if (pos == std::string::npos) return "";
  auto start = pos + std::string(kActionTag).size();
  auto end = m.find(']', start);
  if (end == std::string::npos) return "";
  return m.substr(start, end - start);
}

bool ApplyHealth(GpuStatus* st, const HealthVerdict& v, const DeviceInfo& info,
                 std::chrono::system_clock::time_point now) {
  bool changed = false;
  std::string previous_own = OwnRecordedAction(*st);
  std::string msg = v.message;
  if (!v.recommended_action.empty()) msg += kActionTag + v.recommended_action + "]";
  const char* status = v.unknown ? kConditionUnknown : v.ready ? kConditionTrue : kConditionFalse;
  changed |= SetCondition(st, MakeCondition(kReadyCondition, status, v.reason, msg), now);
  const std::string& current = st->recommended_action();
  if (!v.recommended_action.empty()) {
    if (current.empty() || current == previous_own || ActionRank(v.recommended_action) >= ActionRank(current)) {
      if (current != v.recommended_action) {
        st->set_recommended_action(v.recommended_action);
        changed = true;
      }
    }
  } else if (!current.empty() && current == previous_own) {
    st->clear_recommended_action();  // ours, and no longer needed
    changed = true;
  }
  if (!google::protobuf::util::MessageDifferencer::Equals(st->device_info(), info)) {
    *st->mutable_device_info() = info;
    changed = true;
  }
  return changed;
}

std::optional<Fault> CarriedOverFault(const GpuStatus& st, std::chrono::system_clock::time_point boot_time) {
  std::optional<Condition> before;
  const Condition* c = OwnReadyCondition(st, &before);
  if (!c || c->status() != kConditionFalse) return std::nullopt;
  auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(
      google::protobuf::util::TimeUtil::TimestampToMicroseconds(c->last_transition_time())));
  if (t < boot_time) return std::nullopt;  // reported before the last reboot: the GPU has been reset since
  Fault f;
  f.key = "carried-over";
  f.severity = Severity::kFatal;
  f.reason = c->reason().empty() ? "XidError" : c->reason();
  f.action = OwnRecordedAction(st);
  if (f.action.empty()) f.action = "RESET_GPU";
  std::string m = c->message();
  if (auto pos = m.rfind(kActionTag); pos != std::string::npos) m.resize(pos);
  const std::string prefix = "reported before provider restart: ";
  f.message = m.rfind(prefix, 0) == 0 ? m : prefix + m;
  return f;
}

std::chrono::system_clock::time_point SystemBootTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) {
      long long t = std::atoll(line.c_str() + 6);
      return std::chrono::system_clock::time_point(std::chrono::seconds(t));
    }
  }
  return {};
}

}  // namespace deviceapi::nvml
