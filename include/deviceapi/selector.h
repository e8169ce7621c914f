// Kubernetes label selectors, evaluated client-side (the Lister uses them).
// Syntax: comma-separated requirements that must all hold:
//   k=v  k==v  k!=v  k in (a,b)  k notin (a,b)  k  !k  k>1  k<1
// An empty selector matches everything. The SDK and the server share one
// parser, so a selector the SDK accepts is exactly one the server accepts
// (the language of Kubernetes' labels.Parse).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "deviceapi/status.h"

namespace deviceapi {

namespace labels {
class Selector;
}  // namespace labels

class LabelSelector {
 public:
  LabelSelector() = default;  // matches everything
  // INVALID_ARGUMENT naming the problem on bad syntax, an invalid key or value.
  static StatusOr<LabelSelector> Parse(std::string_view text);

  // Any map from string to string (std::map, google::protobuf::Map, ...).
  template <typename Map>
  bool Matches(const Map& labels) const {
    if (Empty()) return true;
    return MatchesLookup([&labels](const std::string& key) -> std::optional<std::string_view> {
      auto it = labels.find(key);
      if (it == labels.end()) return std::nullopt;
      return std::string_view(it->second);
    });
  }
  bool Empty() const;
  // The canonical text (requirements sorted by key, values sorted).
  std::string ToString() const;

 private:
  using Lookup = std::optional<std::string_view> (*)(const void* context, const std::string& key);
  template <typename F>
  bool MatchesLookup(const F& find) const {
    return MatchesWith(&find, [](const void* context, const std::string& key) {
      return (*static_cast<const F*>(context))(key);
    });
  }
  bool MatchesWith(const void* context, Lookup lookup) const;

  std::shared_ptr<const labels::Selector> selector_;  // null: matches everything
};

}  // namespace deviceapi
