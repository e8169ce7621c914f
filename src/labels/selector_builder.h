// Internal to the labels library: how the parser hands its requirements to
// Selector's compact form.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "labels/selector.h"

namespace deviceapi::labels {

// One parsed requirement, viewing the selector text it came from.
struct RequirementText {
  std::string_view key;
  Operator op = Operator::kExists;
  std::vector<std::string_view> values;  // any order, duplicates allowed
  std::int64_t number = 0;               // kGreaterThan / kLessThan
};

class SelectorBuilder {
 public:
  // Copies keys and values into one buffer; sorts requirements by key
  // (stable) and each one's values (unique).
  static Selector Build(std::vector<RequirementText> requirements);
};

}  // namespace deviceapi::labels
