#include "apiserver/condition_counts.h"

#include "apiserver/proto_object.h"
#include "device_api.pb.h"

namespace deviceapi::apiserver {

ConditionCounts CountConditions(const store::Store& store) {
  ConditionCounts counts;
  auto list = store.List();
  if (!list.ok()) return counts;
  for (const auto& item : list->items) {
    auto gpu = ProtoObject<nvidia::nvsentinel::v1alpha1::Gpu>::From(item);
    if (!gpu) continue;
    auto parsed = gpu->Parse();
    for (const auto& c : parsed->status().conditions()) {
      ++counts[{c.type(), c.status()}];
    }
  }
  return counts;
}

ActionCounts CountRecommendedActions(const store::Store& store) {
  ActionCounts counts;
  auto list = store.List();
  if (!list.ok()) return counts;
  for (const auto& item : list->items) {
    auto gpu = ProtoObject<nvidia::nvsentinel::v1alpha1::Gpu>::From(item);
    if (!gpu) continue;
    auto parsed = gpu->Parse();
    const std::string& action = parsed->status().recommended_action();
    if (!action.empty()) ++counts[action];
  }
  return counts;
}

}  // namespace deviceapi::apiserver
