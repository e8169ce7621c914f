// Kubernetes label selectors (S10): k=v, k==v, k!=v, k in (a,b), k notin (a), k, !k,
// comma-separated requirements that must all hold. An empty selector matches all.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/object.h"
#include "store/result.h"

namespace deviceapi::store {

class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };

  LabelSelector() = default;  // matches everything
  // Parses selector text; kInvalid with a message naming the problem otherwise.
  static Result<LabelSelector> Parse(std::string_view text);

  bool Matches(const Labels& labels) const;
  bool Empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace deviceapi::store
