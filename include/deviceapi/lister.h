// Lister: reads from an informer's local cache. Never talks to the server.
//
// Thread-safe. Returned objects are shared immutable snapshots: later events
// replace cache entries, they never change an object already returned.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "deviceapi/selector.h"
#include "deviceapi/types.h"

namespace deviceapi {

using GpuPtr = std::shared_ptr<const Gpu>;

class Lister {
 public:
  virtual ~Lister() = default;
  // Null when the cache has no such object. Empty namespace means "default".
  virtual GpuPtr Get(std::string_view name, std::string_view namespace_name = {}) const = 0;
  // Objects of `namespace_name` (empty: all) matching `selector`, sorted by
  // namespace, then name.
  virtual std::vector<GpuPtr> List(const LabelSelector& selector = {},
                                   std::string_view namespace_name = {}) const = 0;
  virtual std::size_t Size() const = 0;
};

}  // namespace deviceapi
