#include "client/lister_cache.h"

#include <mutex>

#include "deviceapi/types.h"

namespace deviceapi {

ListerCache::Key ListerCache::KeyOf(const Gpu& gpu) {
  const auto& ns = gpu.metadata().namespace_();
  return {ns.empty() ? std::string(kDefaultNamespace) : ns, gpu.metadata().name()};
}

GpuPtr ListerCache::Get(std::string_view name, std::string_view namespace_name) const {
  Key key{namespace_name.empty() ? std::string(kDefaultNamespace) : std::string(namespace_name),
          std::string(name)};
  std::shared_lock lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<GpuPtr> ListerCache::List(const LabelSelector& selector,
                                      std::string_view namespace_name) const {
  std::vector<GpuPtr> out;
  std::shared_lock lock(mu_);
  for (const auto& [key, gpu] : items_) {
    if (!namespace_name.empty() && key.first != namespace_name) continue;
    if (!selector.Matches(gpu->metadata().labels())) continue;
    out.push_back(gpu);
  }
  return out;
}

std::size_t ListerCache::Size() const {
  std::shared_lock lock(mu_);
  return items_.size();
}

GpuPtr ListerCache::Upsert(GpuPtr gpu) {
  Key key = KeyOf(*gpu);
  std::unique_lock lock(mu_);
  GpuPtr& slot = items_[key];
  GpuPtr old = std::move(slot);
  slot = std::move(gpu);
  return old;
}

GpuPtr ListerCache::Remove(const Key& key) {
  std::unique_lock lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  GpuPtr old = std::move(it->second);
  items_.erase(it);
  return old;
}

std::vector<GpuPtr> ListerCache::Snapshot() const {
  std::shared_lock lock(mu_);
  std::vector<GpuPtr> out;
  out.reserve(items_.size());
  for (const auto& [key, gpu] : items_) out.push_back(gpu);
  return out;
}

}  // namespace deviceapi
