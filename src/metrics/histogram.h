// Histogram: counts observations into cumulative buckets (Prometheus
// "histogram": _bucket{le}, _sum, _count).
//
// Thread-safe and lock-free: Observe() is a binary search over the fixed
// bounds plus two relaxed atomic adds. A Snapshot taken while observers run
// is internally consistent in the way Prometheus requires: buckets are
// cumulative and the +Inf bucket equals _count (both are derived from the
// same per-bucket reads); _sum may lag or lead by in-flight observations.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace deviceapi::metrics {

// Prometheus client defaults, in seconds: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
std::vector<double> DefaultBuckets();
// start, start*factor, ... (count bounds). Requires start > 0, factor > 1, count >= 1.
std::vector<double> ExponentialBuckets(double start, double factor, std::size_t count);
// start, start+width, ... (count bounds). Requires width > 0, count >= 1.
std::vector<double> LinearBuckets(double start, double width, std::size_t count);

class Histogram {
 public:
  // `bounds`: finite, strictly increasing upper bounds (the +Inf bucket is
  // implicit). Throws std::invalid_argument otherwise.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `v` in the first bucket whose bound is >= v (le semantics).
  // NaN is counted in +Inf only and added to the sum (as Prometheus clients do).
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;               // without +Inf
    std::vector<std::uint64_t> cumulative;    // bounds.size() + 1 entries; last is +Inf
    std::uint64_t count = 0;                  // == cumulative.back()
    double sum = 0;
  };
  Snapshot Collect() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  // Non-cumulative per-bucket counts; bounds_.size() + 1 entries.
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

}  // namespace deviceapi::metrics
