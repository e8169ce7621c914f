// Callbacks collected while locks are held and run after they are released,
// so a consumer's callback never runs under a store lock.
#pragma once

#include <functional>
#include <memory>
#include <vector>

namespace deviceapi::store {

using DeferredCallback = std::shared_ptr<const std::function<void()>>;

class DeferredCallbacks {
 public:
  void Add(DeferredCallback cb) {
    if (cb) callbacks_.push_back(std::move(cb));
  }
  void Run() {
    for (const auto& cb : callbacks_) (*cb)();
    callbacks_.clear();
  }

 private:
  std::vector<DeferredCallback> callbacks_;
};

}  // namespace deviceapi::store
