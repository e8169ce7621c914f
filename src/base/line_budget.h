// LineBudget: bounds how many lines a repeated log message may write, for
// messages that clients or faults can trigger at any rate (gRPC's and
// protobuf's own warnings, watches evicted as too slow, connections the
// listener closes). At most `per_second` lines are admitted in each
// one-second window; the rest are counted, and the next admitted line
// learns how many were dropped before it, so the log says "suppressed": N
// instead of going quiet. Thread-safe; never blocks on I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <utility>

namespace deviceapi::base {

class LineBudget {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LineBudget(int per_second) : per_second_(per_second) {}

  // True when the line may be written; then *dropped_before is the number
  // of lines refused since the last one admitted. False counts one more
  // dropped line. `now` is for tests.
  bool Admit(std::uint64_t* dropped_before, Clock::time_point now = Clock::now()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ >= per_second_) {
      ++dropped_;
      return false;
    }
    ++used_;
    *dropped_before = std::exchange(dropped_, 0);
    return true;
  }

  // The lines dropped since the last one admitted, which are then
  // forgotten: for a final "N lines suppressed" at shutdown.
  std::uint64_t TakeDropped() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(dropped_, 0);
  }

 private:
  const int per_second_;
  std::mutex mu_;
  Clock::time_point window_start_{};
  int used_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace deviceapi::base
