// GPU health at a glance for the metrics endpoint: how many GPUs carry each
// (condition type, condition status) pair, e.g. {("Ready","False"), 2}, and
// each recommended action.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "store/store.h"

namespace deviceapi::apiserver {

using ConditionCounts = std::map<std::pair<std::string, std::string>, std::size_t>;
// recommended_action -> number of GPUs whose status carries it (GPUs with an
// empty action are not counted).
using ActionCounts = std::map<std::string, std::size_t>;

// Clients choose condition types and recommended actions, and each becomes
// a label value on /metrics: the series are bounded (S33). The condition
// types carried by the most GPUs (ties: by name) keep their own label, at
// most kMaxConditionTypes of them; the others are counted under the type
// kOtherLabel (no valid condition type: those start with a capital). With
// at most 32 conditions per GPU (S19) every type carried by more than half
// the GPUs keeps its label. Recommended actions likewise, at most
// kMaxRecommendedActions of them (one per GPU: every action carried by more
// than 1/16 of the GPUs keeps its label).
inline constexpr std::size_t kMaxConditionTypes = 64;
inline constexpr std::size_t kMaxRecommendedActions = 16;
inline constexpr const char* kOtherLabel = "other";

struct GpuHealthCounts {
  store::Revision revision = 0;  // of the List they were counted over
  ConditionCounts conditions;
  ActionCounts actions;
};

// Both counts over one consistent List of `store` (all namespaces), parsing
// each GPU once, with the series bounded as above. Objects that are not
// GPUs are skipped. Empty when the store
// refuses the list (shut down). Thread-safe; cost O(objects x conditions).
GpuHealthCounts CountGpuHealth(const store::Store& store);

ConditionCounts CountConditions(const store::Store& store);
ActionCounts CountRecommendedActions(const store::Store& store);

// CountGpuHealth for a metrics scrape, which asks for both counts in turn:
// the last counts are kept and reused while the store's revision has not
// moved, so a scrape parses every GPU at most once and an idle store none.
// Thread-safe.
class GpuHealthCounter {
 public:
  explicit GpuHealthCounter(const store::Store& store) : store_(store) {}
  GpuHealthCounts Get();

 private:
  const store::Store& store_;
  std::mutex mu_;
  bool counted_ = false;
  GpuHealthCounts last_;
};

}  // namespace deviceapi::apiserver
