#include "bench/latency.h"

#include <algorithm>
#include <cmath>

namespace deviceapi::bench {

void LatencyRecorder::Merge(const LatencyRecorder& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

LatencySummary LatencyRecorder::Summarize() {
  LatencySummary s;
  s.count = samples_.size();
  if (samples_.empty()) return s;
  std::sort(samples_.begin(), samples_.end());
  auto rank = [&](double p) {
    std::size_t i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(samples_.size())));
    i = std::clamp<std::size_t>(i, 1, samples_.size());
    return static_cast<double>(samples_[i - 1]) / 1e6;
  };
  s.p50_ms = rank(0.50);
  s.p90_ms = rank(0.90);
  s.p99_ms = rank(0.99);
  s.max_ms = static_cast<double>(samples_.back()) / 1e6;
  long double sum = 0;
  for (auto v : samples_) sum += v;
  s.mean_ms = static_cast<double>(sum / samples_.size() / 1e6);
  return s;
}

}  // namespace deviceapi::bench
