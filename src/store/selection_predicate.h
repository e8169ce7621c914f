// A selection predicate (Kubernetes' name): a namespace (exact match, S17)
// and a label selector (S10). What one List returns and what one watcher
// sees; Transform says how a store event looks through it.
#pragma once

#include <string>

#include "store/event.h"
#include "labels/selector.h"

namespace deviceapi::store {

struct SelectionPredicate {
  std::string namespace_name;  // empty: all namespaces
  labels::Selector selector;

  bool MatchesAll() const { return namespace_name.empty() && selector.Empty(); }

  bool Matches(const Object& object) const {
    if (!namespace_name.empty() && object.key().namespace_name != namespace_name) return false;
    return selector.Empty() || selector.Matches(object.labels());
  }

  // The event as this watcher must see it, or false when it must not see it.
  // As in Kubernetes, a MODIFIED that moves an object out of the filter is a
  // DELETED (carrying the new state) and one that moves it in is an ADDED.
  bool Transform(const Event& in, Event* out) const {
    if (in.type == EventType::kBookmark || MatchesAll()) {
      *out = in;
      return true;
    }
    if (in.type != EventType::kModified) {
      if (!Matches(*in.object)) return false;
      *out = in;
      return true;
    }
    bool now = Matches(*in.object);
    bool before = in.previous && Matches(*in.previous);
    if (!now && !before) return false;
    *out = in;
    if (now && !before) {
      out->type = EventType::kAdded;
      out->previous = nullptr;
    } else if (!now && before) {
      out->type = EventType::kDeleted;
    }
    return true;
  }
};

}  // namespace deviceapi::store
