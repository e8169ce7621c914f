// S21: ready = storage loaded and (min GPUs registered or grace passed).
#include "apiserver/readiness.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace deviceapi::apiserver {
namespace {

TEST(ReadinessTest, NeedsStorageThenMinGpusS21) {
  std::atomic<std::size_t> count{0};
  Readiness r(2, std::chrono::hours(1), [&] { return count.load(); });
  EXPECT_FALSE(r.IsReady());
  EXPECT_EQ(r.Reason(), "storage not loaded");
  count = 5;
  EXPECT_FALSE(r.IsReady());  // storage first
  count = 1;
  r.MarkStorageLoaded();
  EXPECT_FALSE(r.IsReady());
  EXPECT_NE(r.Reason().find("1 of 2"), std::string::npos);
  count = 2;
  EXPECT_TRUE(r.IsReady());
  EXPECT_EQ(r.Reason(), "");
  count = 0;  // latches: GPUs going away later does not un-ready
  EXPECT_TRUE(r.IsReady());
  r.BeginShutdown();
  EXPECT_FALSE(r.IsReady());
  EXPECT_TRUE(r.ShuttingDown());
  EXPECT_EQ(r.Reason(), "shutting down");
}

TEST(ReadinessTest, GracePeriodS21) {
  Readiness r(8, std::chrono::milliseconds(30), [] { return std::size_t{0}; });
  r.MarkStorageLoaded();
  EXPECT_FALSE(r.IsReady());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!r.IsReady() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(r.IsReady());
}

TEST(ReadinessTest, ZeroMinimumIsReadyOnLoad) {
  Readiness r(0, std::chrono::hours(1), nullptr);
  EXPECT_FALSE(r.IsReady());
  r.MarkStorageLoaded();
  EXPECT_TRUE(r.IsReady());
}

}  // namespace
}  // namespace deviceapi::apiserver
