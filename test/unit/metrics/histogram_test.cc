// Histogram bucketing (le semantics), sums, bucket helpers and concurrency.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "metrics/histogram.h"

namespace deviceapi::metrics {
namespace {

TEST(HistogramTest, CountsIntoFirstBucketWithBoundAtLeastValue) {
  Histogram h({1, 2, 5});
  for (double v : {0.5, 1.0, 1.5, 2.0, 4.9, 5.0, 5.1, 100.0, -3.0}) h.Observe(v);
  auto s = h.Collect();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 3u);  // 0.5, 1.0 (le is inclusive), -3
  EXPECT_EQ(s.cumulative[1], 5u);  // + 1.5, 2.0
  EXPECT_EQ(s.cumulative[2], 7u);  // + 4.9, 5.0
  EXPECT_EQ(s.cumulative[3], 9u);  // + 5.1, 100 (+Inf)
  EXPECT_EQ(s.count, 9u);
  EXPECT_DOUBLE_EQ(s.sum, 0.5 + 1 + 1.5 + 2 + 4.9 + 5 + 5.1 + 100 - 3);
}

TEST(HistogramTest, NanGoesToInfOnly) {
  Histogram h({1});
  h.Observe(NAN);
  auto s = h.Collect();
  EXPECT_EQ(s.cumulative[0], 0u);
  EXPECT_EQ(s.cumulative[1], 1u);
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(HistogramTest, NoBoundsMeansOnlyInf) {
  Histogram h({});
  h.Observe(3);
  auto s = h.Collect();
  ASSERT_EQ(s.cumulative.size(), 1u);
  EXPECT_EQ(s.cumulative[0], 1u);
}

TEST(HistogramTest, RejectsBadBounds) {
  EXPECT_THROW(Histogram({2, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, INFINITY}), std::invalid_argument);
  EXPECT_THROW(Histogram({NAN}), std::invalid_argument);
}

TEST(HistogramTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(LinearBuckets(0, 5, 3), (std::vector<double>{0, 5, 10}));
  EXPECT_EQ(DefaultBuckets().size(), 11u);
  EXPECT_THROW(ExponentialBuckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(ExponentialBuckets(1, 1, 3), std::invalid_argument);
  EXPECT_THROW(LinearBuckets(0, 0, 3), std::invalid_argument);
  EXPECT_THROW(LinearBuckets(0, 1, 0), std::invalid_argument);
}

TEST(HistogramTest, ConcurrentObserversAndCollectorsStayConsistent) {
  Histogram h(ExponentialBuckets(1, 2, 10));
  constexpr int kThreads = 4, kPer = 50000;
  std::atomic<bool> stop{false};
  std::thread collector([&] {
    while (!stop.load()) {
      auto s = h.Collect();
      for (std::size_t i = 1; i < s.cumulative.size(); ++i) {
        ASSERT_LE(s.cumulative[i - 1], s.cumulative[i]);
      }
      ASSERT_EQ(s.count, s.cumulative.back());
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) h.Observe((i + t) % 1500);
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  collector.join();
  auto s = h.Collect();
  EXPECT_EQ(s.count, static_cast<std::uint64_t>(kThreads) * kPer);
  double expect_sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPer; ++i) expect_sum += (i + t) % 1500;
  }
  EXPECT_DOUBLE_EQ(s.sum, expect_sum);  // integers: exact in a double
}

}  // namespace
}  // namespace deviceapi::metrics
