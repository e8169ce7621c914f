// AwaitAnswer: the synchronous form of a call that answers through a
// callback (Store::UpdateAsync and the registry writes built on it), for
// callers that have a thread to spare: a lease controller, tests, tools.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "store/result.h"

namespace deviceapi::store {

// Calls start(done) and waits until `done` was called, on this thread or
// another; returns what it was called with. `done` must be called exactly
// once.
template <typename T, typename Start>
Result<T> AwaitAnswer(const Start& start) {
  struct Answer {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<T>> result;
  };
  auto answer = std::make_shared<Answer>();
  start(std::function<void(Result<T>)>([answer](Result<T> result) {
    std::lock_guard<std::mutex> l(answer->mu);
    answer->result.emplace(std::move(result));
    answer->cv.notify_one();
  }));
  std::unique_lock<std::mutex> l(answer->mu);
  answer->cv.wait(l, [&] { return answer->result.has_value(); });
  return std::move(*answer->result);
}

}  // namespace deviceapi::store
