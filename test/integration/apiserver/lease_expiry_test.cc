// Lease expiry under faults: slow or failed GPU writes around it (S26,
// S28), lease writes that fail (S29), deletes and re-creates (S28).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
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

// S26, S29: a delete that fails to commit leaves the lease table as it was.
// Here the lease had expired: it is still stored and still expired, so a
// stale writer still may not set its condition True, also once the expiry
// the delete started (held up by a slow GPU write) has run.
TEST_F(LeaseTest, FailedDeleteOfAnExpiredLeaseKeepsItExpiredS26S29) {
  auto gpus = std::make_shared<SlowBackend>();
  auto leases = std::make_shared<FaultyBackend>();
  ServerSetup setup;
  setup.store.backend = gpus;
  setup.lease_backend = leases;
  StartServer(setup);
  CreateGpuWithConditions(1);
  CreateGpuWithConditions(2);
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"})).ok());
  ASSERT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(5)));
  ASSERT_EQ(SetTrue(1, "NVMLReady").error_code(), StatusCode::FAILED_PRECONDITION);
  gpus->delay_ms = 1000;
  std::thread slow([&] { EXPECT_TRUE(SetTrue(2, "Other").ok()); });  // holds the expiry's wait
  std::this_thread::sleep_for(milliseconds(100));
  leases->fail_next = true;
  ASSERT_EQ(DeleteLease("nvml").error_code(), StatusCode::UNAVAILABLE);
  slow.join();
  gpus->delay_ms = 0;
  std::this_thread::sleep_for(milliseconds(500));  // the delete's expiry has run by now
  v1::Lease lease;
  ASSERT_TRUE(GetLease("nvml", &lease).ok()) << "the lease is still stored";
  EXPECT_EQ(lease_controller().GetStats().expired, 1u);
  grpc::Status s = SetTrue(1, "NVMLReady");
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << "True accepted while the owning lease is expired";
}

// S28: a lease deleted and created again under its name before the
// deletion's expiry ran still gets that expiry for the types the new lease
// no longer owns; the new lease's holder may set those it owns again.
TEST_F(LeaseTest, LeaseCreatedAgainBeforeItsDeletionsExpiryKeepsThatExpiryS28) {
  auto gpus = StartOnGpuBackend(std::make_shared<SlowBackend>());
  CreateGpuWithConditions(1);
  CreateGpuWithConditions(2);
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 60, {"NVMLReady", "DCGMHealthy"})).ok());
  gpus->delay_ms = 1000;
  std::thread slow([&] { EXPECT_TRUE(SetTrue(2, "Other").ok()); });  // holds the expiry's wait
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_TRUE(DeleteLease("nvml").ok());
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 60, {"NVMLReady"})).ok());
  slow.join();
  gpus->delay_ms = 0;
  EXPECT_TRUE(Eventually([&] { return Find(Current(1), "DCGMHealthy")->status() == "Unknown"; }, seconds(5)))
      << "DCGMHealthy, released by the deleted lease, stayed True";
  EXPECT_TRUE(SetTrue(1, "NVMLReady").ok());  // the new lease owns it
}

// S28: lease deadlines are measured on a clock that does not step. The
// wall clock stepping back (an NTP step, an RTC fix-up) after a provider's
// last renewal does not keep its conditions True for the length of the
// step; stepping forward does not expire a live lease early.
TEST_F(LeaseTest, WallClockStepsMoveNoDeadlineS28) {
  std::atomic<std::int64_t> step_seconds{0};
  ServerSetup setup;
  setup.wall_clock = [&] { return std::chrono::system_clock::now() + seconds(step_seconds.load()); };
  StartServer(setup);
  CreateGpuWithConditions(1);
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 2, {"NVMLReady"})).ok());
  step_seconds = 3600;
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "True") << "a step forward expired a live lease";
  EXPECT_EQ(lease_controller().GetStats().live, 1u);
  ASSERT_TRUE(Renew("nvml").ok());  // the provider's last renewal
  step_seconds = -3600;
  EXPECT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(4)))
      << "a step back kept a stopped provider's condition True";
}

// S28, S24: a deleted lease's conditions are Unknown before DeleteLease
// answers, so a restart right after it, which rebuilds the lease table from
// the stored leases only, cannot leave them True; also those of a GPU
// write still committing when the delete came.
TEST_F(LeaseTest, DeletedLeaseIsUnknownBeforeARestartS28) {
  auto gpus = std::make_shared<DelayedBackend>(OpenSqlite<v1::Gpu>(dir() + "/kept.db"));
  ServerSetup setup;
  setup.store.backend = gpus;
  setup.lease_backend = OpenSqlite<v1::Lease>(dir() + "/kept-leases.db");
  StartServer(setup);
  CreateGpuWithConditions(1);
  CreateGpuWithConditions(2);
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 60, {"NVMLReady"})).ok());
  // A GPU write still committing when the delete comes, on a channel of its
  // own, so that it may outlive the server.
  v1::UpdateGpuStatusRequest write;
  *write.mutable_gpu() = WithCondition(Current(2), "DCGMHealthy", "False");
  auto own = v1::GpuService::NewStub(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  gpus->delay_ms = 1000;
  std::thread slow([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::Gpu out;
    own->UpdateGpuStatus(&ctx, write, &out);
  });
  std::this_thread::sleep_for(milliseconds(100));
  gpus->delay_ms = 0;
  ASSERT_TRUE(DeleteLease("nvml").ok());
  StopServer();  // at once, as a SIGTERM would
  slow.join();
  StartServer(setup);
  v1::Lease lease;
  EXPECT_EQ(GetLease("nvml", &lease).error_code(), StatusCode::NOT_FOUND);
  for (int index : {1, 2}) {
    EXPECT_TRUE(Eventually([&] { return Find(Current(index), "NVMLReady")->status() == "Unknown"; }, seconds(3)))
        << "GPU " << index << ": the deleted lease's condition stayed True after the restart";
  }
}

// S26, S28: a DeleteLease whose conditions cannot be set Unknown (the GPU
// store's disk is full) fails UNAVAILABLE and deletes nothing: the lease is
// still stored and live, its holder may still set True; once the fault
// clears, the delete works.
TEST_F(LeaseTest, DeleteLeaseThatCannotSetItsConditionsUnknownChangesNothingS26S28) {
  auto gpus = StartOnGpuBackend(std::make_shared<FaultyBackend>());
  CreateGpuWithConditions(1);
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 60, {"NVMLReady"})).ok());
  gpus->failing = true;
  grpc::Status s = DeleteLease("nvml");
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
  gpus->failing = false;
  v1::Lease lease;
  EXPECT_TRUE(GetLease("nvml", &lease).ok()) << "the lease was deleted";
  EXPECT_EQ(lease_controller().GetStats().live, 1u);
  EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "True");
  ASSERT_TRUE(UpdateStatus(WithCondition(Current(1), "NVMLReady", "False")).ok());
  EXPECT_TRUE(SetTrue(1, "NVMLReady").ok()) << "the live lease's holder may set True";
  ASSERT_TRUE(DeleteLease("nvml").ok());
  EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "Unknown") << "not Unknown when the delete answered";
}

// S5, S28: a DeleteLease its uid or resource_version precondition refuses
// changes nothing: an old provider instance deleting by uid after a new one
// created the lease again leaves the new lease live, its conditions True.
TEST_F(LeaseTest, DeleteLeaseRefusedByItsPreconditionChangesNothingS5S28) {
  StartServer();
  CreateGpuWithConditions(1);
  v1::Lease first;
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 60, {"NVMLReady"}), &first).ok());
  ASSERT_TRUE(DeleteLease("nvml").ok());
  v1::Lease second;
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 60, {"NVMLReady"}), &second).ok());
  ASSERT_TRUE(SetTrue(1, "NVMLReady").ok());
  const v1::Gpu before = Current(1);
  v1::Preconditions old_uid;
  old_uid.set_uid(first.metadata().uid());
  v1::Preconditions old_version;
  old_version.set_resource_version(first.metadata().resource_version());
  for (const auto& pre : {old_uid, old_version}) {
    SCOPED_TRACE(pre.ShortDebugString());
    EXPECT_EQ(DeleteLease("nvml", pre).error_code(), StatusCode::ABORTED);
    v1::Lease lease;
    ASSERT_TRUE(GetLease("nvml", &lease).ok());
    EXPECT_EQ(lease.metadata().uid(), second.metadata().uid());
    EXPECT_EQ(lease_controller().GetStats().live, 1u);
    EXPECT_EQ(Current(1).metadata().resource_version(), before.metadata().resource_version())
        << "a refused delete wrote the GPU";
    EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "True");
  }
  v1::Preconditions current;
  current.set_uid(second.metadata().uid());
  ASSERT_TRUE(DeleteLease("nvml", current).ok());
  EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "Unknown");
}

// S29: an expired lease stays expired when another lease's write fails and
// the lease table is rebuilt from the stored leases, also when its
// renew_time is in the future or the wall clock stepped back since: what is
// stored did not change, so neither does its deadline.
TEST_F(LeaseTest, FailedLeaseWriteRevivesNoExpiredLeaseS29) {
  for (const bool step_back : {false, true}) {
    SCOPED_TRACE(step_back ? "wall clock stepped back" : "renew_time in the future");
    std::atomic<std::int64_t> step_seconds{0};
    auto leases = std::make_shared<FaultyBackend>();
    ServerSetup setup;
    setup.lease_backend = leases;
    setup.wall_clock = [&] { return std::chrono::system_clock::now() + seconds(step_seconds.load()); };
    StartServer(setup);
    CreateGpuWithConditions(1);
    v1::Lease lease = MakeLease("nvml", "node-1", 1, {"NVMLReady"});
    if (!step_back) {
      lease.mutable_spec()->mutable_renew_time()->set_seconds(
          std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch()).count() + 3600);
    }
    ASSERT_TRUE(CreateLease(lease).ok());
    ASSERT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(4)));
    if (step_back) step_seconds = -3600;
    ASSERT_EQ(SetTrue(1, "NVMLReady").error_code(), StatusCode::FAILED_PRECONDITION);
    leases->fail_next = true;
    ASSERT_FALSE(CreateLease(MakeLease("aux", "node-1", 60, {"AuxReady"})).ok());
    EXPECT_EQ(lease_controller().GetStats().expired, 1u);
    EXPECT_EQ(SetTrue(1, "NVMLReady").error_code(), StatusCode::FAILED_PRECONDITION)
        << "a failed write of another lease revived the expired one";
    StopServer();
  }
}

// S28, S32: reads that take every place in the GPU store's list of waiting
// reads (--max-waiting-reads) do not fail a DeleteLease: the server's own
// wait for the GPU writes admitted before it is never refused. A GPU write
// in flight that outlasts that wait fails the delete UNAVAILABLE, saying so,
// and deletes nothing.
TEST_F(LeaseTest, DeleteLeaseWaitsForGpuWritesInFlightWhateverReadsWaitS28S32) {
  struct Case {
    const char* name;
    milliseconds wait;
    std::size_t waiters;
    bool deleted;
  };
  for (const Case& c : {Case{"waiters-full", seconds(3), 0, true}, Case{"wait-ran-out", milliseconds(300), 1024, false}}) {
    SCOPED_TRACE(c.name);
    auto gpus = std::make_shared<SlowBackend>();
    ServerSetup setup;
    setup.store.backend = gpus;
    setup.store.future_revision_wait = c.wait;
    setup.store.max_revision_waiters = c.waiters;
    StartServer(setup);
    CreateGpuWithConditions(1);
    CreateGpuWithConditions(2);
    ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 60, {"NVMLReady"})).ok());
    gpus->delay_ms = 1000;
    std::thread slow([&] { EXPECT_TRUE(SetTrue(2, "Other").ok()); });  // in flight when the delete comes
    std::this_thread::sleep_for(milliseconds(100));
    gpus->delay_ms = 0;
    grpc::Status s = DeleteLease("nvml");
    slow.join();
    v1::Lease lease;
    if (c.deleted) {
      EXPECT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(GetLease("nvml", &lease).error_code(), StatusCode::NOT_FOUND);
      for (int index : {1, 2}) EXPECT_EQ(Find(Current(index), "NVMLReady")->status(), "Unknown") << index;
    } else {
      EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
      EXPECT_NE(s.error_message().find("GPU writes in flight did not finish"), std::string::npos) << s.error_message();
      EXPECT_TRUE(GetLease("nvml", &lease).ok()) << "the lease was deleted";
      EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "True");
    }
    StopServer();
  }
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
