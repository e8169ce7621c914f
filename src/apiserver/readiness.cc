#include "apiserver/readiness.h"

namespace deviceapi::apiserver {

Readiness::Readiness(std::size_t min_gpus, std::chrono::milliseconds grace_period,
                     std::function<std::size_t()> object_count)
    : min_gpus_(min_gpus), grace_period_(grace_period), object_count_(std::move(object_count)) {}

void Readiness::MarkStorageLoaded() {
  std::lock_guard<std::mutex> lock(mu_);
  if (storage_loaded_) return;
  storage_loaded_ = true;
  loaded_at_ = Clock::now();
}

void Readiness::BeginShutdown() { shutting_down_.store(true); }

bool Readiness::IsReady() {
  if (shutting_down_.load()) return false;
  if (ready_.load(std::memory_order_acquire)) return true;
  std::lock_guard<std::mutex> lock(mu_);
  if (!storage_loaded_) return false;
  const bool enough = object_count_ ? object_count_() >= min_gpus_ : min_gpus_ == 0;
  if (enough || Clock::now() - loaded_at_ >= grace_period_) {
    ready_.store(true, std::memory_order_release);  // latches: S21
    return true;
  }
  return false;
}

std::string Readiness::Reason() {
  if (shutting_down_.load()) return "shutting down";
  if (IsReady()) return "";
  std::lock_guard<std::mutex> lock(mu_);
  if (!storage_loaded_) return "storage not loaded";
  const std::size_t have = object_count_ ? object_count_() : 0;
  return "waiting for providers: " + std::to_string(have) + " of " + std::to_string(min_gpus_) +
         " GPUs registered, grace period not over";
}

}  // namespace deviceapi::apiserver
