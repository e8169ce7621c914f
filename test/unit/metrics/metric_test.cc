// Counters and gauges: values, and no lost updates under concurrency.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "metrics/metric.h"
#include "metrics/registry.h"

namespace deviceapi::metrics {
namespace {

TEST(CounterTest, StartsAtZeroAndCounts) {
  Counter c;
  EXPECT_EQ(c.Value(), 0u);
  c.Inc();
  c.Inc(41);
  EXPECT_EQ(c.Value(), 42u);
}

TEST(GaugeTest, SetAddIncDec) {
  Gauge g;
  g.Set(2.5);
  g.Add(0.5);
  g.Inc();
  g.Dec();
  g.Dec();
  EXPECT_DOUBLE_EQ(g.Value(), 2.0);
  g.Set(-7);
  EXPECT_DOUBLE_EQ(g.Value(), -7.0);
}

TEST(CounterTest, ConcurrentIncrementsLoseNothing) {
  Registry r;
  auto& fam = r.AddCounter("c_total", "help", {"worker"});
  constexpr int kThreads = 8, kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads share one child, half look the child up every time:
      // both the lock-free add and the locked lookup must be safe.
      Counter& shared = fam.WithLabels({"shared"});
      for (int i = 0; i < kPerThread; ++i) {
        if (t % 2) shared.Inc();
        else fam.WithLabels({"lookup"}).Inc();
      }
    });
  }
  // Scrape while they run: must not crash or tear.
  for (int i = 0; i < 20; ++i) (void)r.Serialize();
  for (auto& th : threads) th.join();
  EXPECT_EQ(fam.WithLabels({"shared"}).Value(), 4u * kPerThread);
  EXPECT_EQ(fam.WithLabels({"lookup"}).Value(), 4u * kPerThread);
}

TEST(GaugeTest, ConcurrentAddsLoseNothing) {
  Gauge g;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50000; ++i) {
        g.Inc();
        g.Add(2);
        g.Dec();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_DOUBLE_EQ(g.Value(), 4 * 50000 * 2.0);
}

TEST(FamilyTest, ChildReferenceIsStable) {
  Registry r;
  auto& fam = r.AddGauge("g", "help", {"a"});
  Gauge& first = fam.WithLabels({"x"});
  for (int i = 0; i < 1000; ++i) fam.WithLabels({std::to_string(i)});
  EXPECT_EQ(&first, &fam.WithLabels({"x"}));
  EXPECT_EQ(fam.size(), 1001u);
}

TEST(FamilyTest, WrongLabelCountThrows) {
  Registry r;
  auto& fam = r.AddCounter("c_total", "help", {"a", "b"});
  EXPECT_THROW(fam.WithLabels({"only-one"}), std::invalid_argument);
  EXPECT_THROW(fam.Get(), std::invalid_argument);
  EXPECT_NO_THROW(fam.WithLabels({"1", "2"}));
}

}  // namespace
}  // namespace deviceapi::metrics
