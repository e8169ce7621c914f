// The stores' bounds: the GPU store takes the flags; the lease store's byte
// bounds are capped, so the memory the flags bound is not taken twice (S33).
#include <gtest/gtest.h>

#include "server/store_options.h"

namespace deviceapi::server {
namespace {

TEST(StoreOptions, GpuStoreTakesTheFlagsS33) {
  Config config;
  config.max_objects = 100;
  config.max_total_object_bytes = 64u << 20;
  config.history_max_events = 500;
  config.history_max_bytes = 2u << 20;
  config.max_watchers = 7;
  const store::StoreOptions gpus = GpuStoreOptions(config);
  EXPECT_EQ(gpus.max_objects, 100u);
  EXPECT_EQ(gpus.max_total_object_bytes, 64u << 20);
  EXPECT_EQ(gpus.history_max_events, 500u);
  EXPECT_EQ(gpus.history_max_bytes, 2u << 20);
  EXPECT_EQ(gpus.max_watchers, 7u);
  EXPECT_EQ(gpus.backend, nullptr);
}

TEST(StoreOptions, LeaseStoreBytesAreCappedS33) {
  const Config defaults;
  const store::StoreOptions leases = LeaseStoreOptions(defaults);
  EXPECT_EQ(leases.max_total_object_bytes, kLeaseMaxTotalObjectBytes);
  EXPECT_EQ(leases.history_max_bytes, kLeaseHistoryMaxBytes);
  EXPECT_LT(leases.max_total_object_bytes, defaults.max_total_object_bytes);
  EXPECT_LT(leases.history_max_bytes, defaults.history_max_bytes);
  // Count bounds are the flags': the lease database's history layout follows
  // --history-max-events as the GPU database's does.
  EXPECT_EQ(leases.history_max_events, defaults.history_max_events);
  EXPECT_EQ(leases.max_objects, defaults.max_objects);
  EXPECT_EQ(leases.max_watchers, defaults.max_watchers);
}

TEST(StoreOptions, LeaseStoreNeverAboveTheFlagsS33) {
  Config small;
  small.max_total_object_bytes = 1u << 20;
  small.history_max_bytes = 1024;
  const store::StoreOptions leases = LeaseStoreOptions(small);
  EXPECT_EQ(leases.max_total_object_bytes, 1u << 20);
  EXPECT_EQ(leases.history_max_bytes, 1024u);
}

}  // namespace
}  // namespace deviceapi::server
