// Counter and Gauge: the two scalar metric kinds.
//
// Thread-safe and lock-free: every operation is a single atomic instruction
// (or a short compare-and-swap loop for floating-point adds), so they are safe
// on the hottest paths. Obtain instances from a Family (family.h) and cache
// the reference: it stays valid as long as the Registry that owns it.
#pragma once

#include <atomic>
#include <cstdint>

namespace deviceapi::metrics {

// A monotonically increasing count (Prometheus "counter"). Integer-valued:
// everything the server counts is a number of things.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (Prometheus "gauge").
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

}  // namespace deviceapi::metrics
