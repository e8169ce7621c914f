// Kubernetes label selectors, evaluated client-side (the Lister uses them).
// Syntax: comma-separated requirements that must all hold:
//   k=v  k==v  k!=v  k in (a,b)  k notin (a,b)  k  !k
// An empty selector matches everything.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "deviceapi/status.h"

namespace deviceapi {

class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };

  LabelSelector() = default;  // matches everything
  // INVALID_ARGUMENT naming the problem on bad syntax.
  static StatusOr<LabelSelector> Parse(std::string_view text);

  template <typename Map>
  bool Matches(const Map& labels) const {
    for (const auto& r : requirements_) {
      auto it = labels.find(r.key);
      bool has = it != labels.end();
      if (!MatchOne(r, has, has ? std::string_view(it->second) : std::string_view()))
        return false;
    }
    return true;
  }
  bool Empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  static bool MatchOne(const Requirement& r, bool has, std::string_view value);
  std::vector<Requirement> requirements_;
};

}  // namespace deviceapi
