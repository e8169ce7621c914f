#include "nvml/publisher.h"

#include <spdlog/spdlog.h>

#include "deviceapi/conditions.h"
#include "deviceapi/retry.h"

namespace deviceapi::nvml {

Publisher::Publisher(Client& client, std::string namespace_name, std::string provider_name,
                     std::chrono::milliseconds rpc_timeout, ProviderMetrics* metrics,
                     std::shared_ptr<CallCanceller> canceller)
    : client_(client), ns_(std::move(namespace_name)), provider_(std::move(provider_name)),
      timeout_(rpc_timeout), metrics_(metrics), canceller_(std::move(canceller)) {}

CallOptions Publisher::Call() const {
  CallOptions c;
  c.timeout = timeout_;
  c.canceller = canceller_;
  return c;
}

void Publisher::Count(const char* op, const Status& s) {
  if (metrics_) metrics_->server_writes.WithLabels({op, StatusCodeName(s.code())}).Inc();
}

GetOptions Publisher::Get() const {
  GetOptions g;
  g.namespace_name = ns_;
  g.call = Call();
  return g;
}

StatusOr<GpuStatus> Publisher::Register(const GpuInfo& gpu) {
  CreateOptions co;
  co.call = Call();
  auto created = client_.Create(NewGpuObject(gpu, ns_, provider_), co);
  Count("create", created.status());
  if (created.ok()) {
    spdlog::info("registered gpu={} uuid={} index={}", created->metadata().name(), gpu.uuid, gpu.index);
    return created->status();
  }
  if (!created.status().IsAlreadyExists()) return created.status();
  // Someone (an earlier run of this provider, or an operator) created it: adopt.
  auto existing = client_.Get(ObjectName(gpu.uuid), Get());
  Count("get", existing.status());
  if (!existing.ok()) return existing.status();
  if (existing->spec().uuid() != gpu.uuid) {
    // The name is derived from the UUID, so this is someone else's object
    // squatting on the name; report it rather than overwrite their spec.
    spdlog::error("adopt gpu={} has spec.uuid={} but NVML reports {}; leaving spec alone",
                  existing->metadata().name(), existing->spec().uuid(), gpu.uuid);
  }
  spdlog::info("adopted existing gpu={} uuid={} resource_version={}", existing->metadata().name(), gpu.uuid,
               existing->metadata().resource_version());
  return existing->status();
}

Status Publisher::Push(const GpuInfo& gpu, const HealthVerdict& verdict) {
  DeviceInfo info = ToDeviceInfo(gpu);
  auto r = UpdateStatusWithRetry(
      client_, ObjectName(gpu.uuid), [&](GpuStatus* st) { return ApplyHealth(st, verdict, info); }, Get());
  Count("update_status", r.status());
  return r.status();
}

StatusOr<GpuList> Publisher::ListAll() {
  ListOptions lo;
  lo.namespace_name = ns_;
  lo.call = Call();
  auto list = client_.List(lo);
  Count("list", list.status());
  return list;
}

StatusOr<std::vector<std::string>> Publisher::MarkUnidentified(const GpuList& list,
                                                                const std::set<std::string>& keep,
                                                                const HealthVerdict& verdict) {
  std::vector<std::string> marked;
  for (const auto& item : list.items()) {
    auto label = item.metadata().labels().find(kManagedByLabel);
    if (label == item.metadata().labels().end() || label->second != provider_) continue;
    if (keep.count(item.metadata().name())) continue;
    bool wrote = false;  // logged only when written, not at every reconcile that finds it marked
    auto r = UpdateStatusWithRetry(
        client_, item.metadata().name(),
        [&](GpuStatus* st) {
          // Unknown says less than a fault: a GPU whose object holds one keeps it.
          const Condition* c = FindCondition(*st, kReadyCondition);
          if (verdict.unknown && c && c->status() == kConditionFalse) return wrote = false;
          const DeviceInfo info = st->device_info();  // NVML cannot read it now: keep the last known
          return wrote = ApplyHealth(st, verdict, info);
        },
        Get());
    Count("update_status", r.status());
    if (r.ok() && wrote) {
      spdlog::error("gpu={} uuid={} marked {}: {}", item.metadata().name(), item.spec().uuid(),
                    verdict.unknown ? "not watched" : "lost", verdict.message);
      marked.push_back(item.metadata().name());
    } else if (!r.status().IsNotFound()) {
      return r.status();
    }
  }
  return marked;
}

StatusOr<std::vector<std::string>> Publisher::Prune(const GpuList& list, const std::set<std::string>& keep) {
  std::vector<std::string> deleted;
  for (const auto& item : list.items()) {
    auto label = item.metadata().labels().find(kManagedByLabel);
    if (label == item.metadata().labels().end() || label->second != provider_) continue;
    if (keep.count(item.metadata().name())) continue;
    DeleteOptions d;
    d.namespace_name = ns_;
    d.precondition_uid = item.metadata().uid();  // never delete a re-created namesake
    d.call = Call();
    Status s = client_.Delete(item.metadata().name(), d);
    Count("delete", s);
    if (s.ok() || s.IsNotFound()) {
      spdlog::info("deleted gpu={} uuid={}: NVML no longer reports it", item.metadata().name(), item.spec().uuid());
      deleted.push_back(item.metadata().name());
    } else if (!s.IsConflict()) {
      return s;
    }
  }
  return deleted;
}

}  // namespace deviceapi::nvml
