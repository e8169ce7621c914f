// The informer's local cache: objects by (namespace, name), read through the
// Lister interface by any thread, written only by the informer's reflector.
#pragma once

#include <map>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "deviceapi/lister.h"

namespace deviceapi {

class ListerCache final : public Lister {
 public:
  using Key = std::pair<std::string, std::string>;  // namespace, name

  GpuPtr Get(std::string_view name, std::string_view namespace_name = {}) const override;
  std::vector<GpuPtr> List(const LabelSelector& selector = {},
                           std::string_view namespace_name = {}) const override;
  std::size_t Size() const override;

  static Key KeyOf(const Gpu& gpu);
  // Stores `gpu`; returns the entry it replaced (null when new).
  GpuPtr Upsert(GpuPtr gpu);
  // Removes the entry; returns it (null when absent).
  GpuPtr Remove(const Key& key);
  std::vector<GpuPtr> Snapshot() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<Key, GpuPtr> items_;
};

}  // namespace deviceapi
