// GPU health at a glance for the metrics endpoint: how many GPUs carry each
// (condition type, condition status) pair, e.g. {("Ready","False"), 2}.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>

#include "store/store.h"

namespace deviceapi::apiserver {

using ConditionCounts = std::map<std::pair<std::string, std::string>, std::size_t>;

// Counts over one consistent List of `store` (all namespaces). Objects that
// are not GPUs are skipped. Empty when the store refuses the list (shut down).
// Thread-safe; cost O(objects x conditions).
ConditionCounts CountConditions(const store::Store& store);

// recommended_action -> number of GPUs whose status carries it (GPUs with an
// empty action are not counted). Same consistency and cost as CountConditions.
using ActionCounts = std::map<std::string, std::size_t>;
ActionCounts CountRecommendedActions(const store::Store& store);

}  // namespace deviceapi::apiserver
