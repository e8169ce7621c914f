// The readiness gate (S21). Reads before ready answer UNAVAILABLE
// "not ready: waiting for providers"; gRPC health and /readyz report
// NOT_SERVING until then. Writes are always accepted.
//
// Ready means: storage loaded and either at least `min_gpus` objects are
// registered or `grace_period` has passed since MarkStorageLoaded(). Once
// ready, it stays ready until BeginShutdown(). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>

namespace deviceapi::apiserver {

class Readiness {
 public:
  using Clock = std::chrono::steady_clock;
  // `object_count` reports how many GPUs are registered (the store's count).
  Readiness(std::size_t min_gpus, std::chrono::milliseconds grace_period,
            std::function<std::size_t()> object_count);

  void MarkStorageLoaded();
  void BeginShutdown();
  bool IsReady();
  bool ShuttingDown() const { return shutting_down_.load(); }
  // Human-readable reason when not ready ("" when ready), for /readyz and logs.
  std::string Reason();

 private:
  const std::size_t min_gpus_;
  const std::chrono::milliseconds grace_period_;
  const std::function<std::size_t()> object_count_;
  std::mutex mu_;
  bool storage_loaded_ = false;
  Clock::time_point loaded_at_{};
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace deviceapi::apiserver
