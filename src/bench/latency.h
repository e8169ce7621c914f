// Latency samples and their summary. Samples are kept exactly (nanoseconds),
// so percentiles are exact rather than bucketed: a run of a few million
// operations costs a few tens of MiB on the client, never on the server.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace deviceapi::bench {

using Clock = std::chrono::steady_clock;

inline std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct LatencySummary {
  std::uint64_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
};

// Not thread-safe: one per worker, merged after the run.
class LatencyRecorder {
 public:
  void Add(std::int64_t ns) { samples_.push_back(ns); }
  void Merge(const LatencyRecorder& other);
  std::size_t size() const { return samples_.size(); }
  void Reserve(std::size_t n) { samples_.reserve(n); }
  // Sorts in place; nearest-rank percentiles.
  LatencySummary Summarize();

 private:
  std::vector<std::int64_t> samples_;
};

}  // namespace deviceapi::bench
