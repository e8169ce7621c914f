#include "apiserver/condition_counts.h"

#include <algorithm>
#include <set>
#include <vector>

#include "apiserver/proto_object.h"
#include "device_api.pb.h"

namespace deviceapi::apiserver {
namespace {

// The `cap` names with the highest totals, ties broken by name.
std::set<std::string> Kept(const std::map<std::string, std::size_t>& totals, std::size_t cap) {
  std::vector<std::pair<std::size_t, const std::string*>> ranked;
  ranked.reserve(totals.size());
  for (const auto& [name, n] : totals) ranked.emplace_back(n, &name);
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::set<std::string> kept;
  for (std::size_t i = 0; i < ranked.size() && i < cap; ++i) kept.insert(*ranked[i].second);
  return kept;
}

// Bounds the series (condition_counts.h): what is not kept counts as other.
void Bound(GpuHealthCounts& counts) {
  std::map<std::string, std::size_t> per_type;
  for (const auto& [key, n] : counts.conditions) per_type[key.first] += n;
  if (per_type.size() > kMaxConditionTypes) {
    const auto kept = Kept(per_type, kMaxConditionTypes);
    ConditionCounts bounded;
    for (auto& [key, n] : counts.conditions) {
      bounded[{kept.count(key.first) ? key.first : kOtherLabel, key.second}] += n;
    }
    counts.conditions = std::move(bounded);
  }
  if (counts.actions.size() > kMaxRecommendedActions) {
    const auto kept = Kept(counts.actions, kMaxRecommendedActions);
    ActionCounts bounded;
    for (const auto& [action, n] : counts.actions) bounded[kept.count(action) ? action : kOtherLabel] += n;
    counts.actions = std::move(bounded);
  }
}

}  // namespace

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
  Bound(counts);
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
