#include "apiserver/condition_counts.h"

#include "apiserver/proto_object.h"
#include "device_api.pb.h"

namespace deviceapi::apiserver {

GpuHealthCounts CountGpuHealth(const store::Store& store) {
  GpuHealthCounts counts;
  auto list = store.List();
  if (!list.ok()) return counts;
  counts.revision = list->revision;
  for (const auto& item : list->items) {
    auto gpu = ProtoObject<nvidia::nvsentinel::v1alpha1::Gpu>::From(item);
    if (!gpu) continue;
    auto parsed = gpu->Parse();
    for (const auto& c : parsed->status().conditions()) {
      ++counts.conditions[{c.type(), c.status()}];
    }
    const std::string& action = parsed->status().recommended_action();
    if (!action.empty()) ++counts.actions[action];
  }
  return counts;
}

ConditionCounts CountConditions(const store::Store& store) { return CountGpuHealth(store).conditions; }

ActionCounts CountRecommendedActions(const store::Store& store) { return CountGpuHealth(store).actions; }

GpuHealthCounts GpuHealthCounter::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!counted_ || store_.CurrentRevision() != last_.revision) {
    last_ = CountGpuHealth(store_);
    counted_ = true;
  }
  return last_;
}

}  // namespace deviceapi::apiserver
