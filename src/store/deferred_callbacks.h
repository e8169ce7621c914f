// Ready callbacks collected while locks are held and run after they are
// released, so a consumer's callback never runs under a store lock.
#pragma once

#include <functional>
#include <memory>
#include <vector>

namespace deviceapi::store {

using ReadyCallback = std::shared_ptr<const std::function<void()>>;

class ReadyList {
 public:
  void Add(ReadyCallback cb) {
    if (cb) callbacks_.push_back(std::move(cb));
  }
  void Run() {
    for (const auto& cb : callbacks_) (*cb)();
    callbacks_.clear();
  }

 private:
  std::vector<ReadyCallback> callbacks_;
};

}  // namespace deviceapi::store
