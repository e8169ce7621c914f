// Lease expiry under faults: slow or failed GPU writes around it (S26,
// S28), lease writes that fail (S29), deletes and re-creates (S28).
#include <gtest/gtest.h>

#include <thread>

#include "lease_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

using grpc::StatusCode;
using std::chrono::milliseconds;
using std::chrono::seconds;

// S28: a GPU written True while the lease was live, whose commit outlasts
// the store's wait for future revisions (a stalled fsync), or whose wait is
// refused because too many reads wait, still turns Unknown: the expiry is
// not made before every write admitted earlier is visible.
TEST_F(LeaseTest, GpuCommitOutlastingTheRevisionWaitStillExpiresS28) {
  struct Case {
    const char* name;
    milliseconds wait;
    std::size_t waiters;
  };
  int index = 0;
  for (const Case& c : {Case{"wait-ran-out", milliseconds(300), 1024}, Case{"waiters-full", seconds(3), 0}}) {
    SCOPED_TRACE(c.name);
    auto backend = std::make_shared<SlowBackend>();
    ServerSetup setup;
    setup.store.backend = backend;  // the GPUs'
    setup.store.future_revision_wait = c.wait;
    setup.store.max_revision_waiters = c.waiters;
    StartServer(setup);
    ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"})).ok());
    backend->delay_ms = 1500;  // admitted now, visible after the deadline and the wait
    CreateGpuWithConditions(index);
    backend->delay_ms = 0;
    EXPECT_TRUE(Eventually([&] { return Find(Current(index), "NVMLReady")->status() == "Unknown"; }, seconds(5)))
        << "the GPU kept NVMLReady True after its lease expired";
    ++index;
  }
}

// S28, S29: a GPU write refused after admission, by S29 or by the byte
// bound (S33), takes no revision; the next expiry does not wait for one.
TEST_F(LeaseTest, RefusedGpuWriteDoesNotHoldUpExpiryS28S29) {
  ServerSetup setup;
  setup.store.max_total_object_bytes = 16 << 10;
  StartServer(setup);
  CreateGpuWithConditions(1);
  ASSERT_TRUE(CreateLease(MakeLease("aux", "node-1", 1, {"AuxReady"})).ok());
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 2, {"NVMLReady"})).ok());
  std::this_thread::sleep_for(milliseconds(1200));  // aux expired, nvml live
  ASSERT_EQ(SetTrue(1, "AuxReady").error_code(), StatusCode::FAILED_PRECONDITION);
  v1::Gpu big = Current(1);
  big.mutable_metadata()->clear_resource_version();
  (*big.mutable_metadata()->mutable_annotations())["example.com/big"] = std::string(16 << 10, 'x');
  ASSERT_EQ(Update(big).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  std::this_thread::sleep_for(milliseconds(800));  // nvml's deadline
  EXPECT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, milliseconds(1500)))
      << "the expiry waited for a revision no write took";
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
