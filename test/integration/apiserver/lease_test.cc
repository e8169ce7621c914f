// Provider leases through the wire: S28 (expiry), S29 (no True while
// expired, take-over), S30 (validation, one live owner per type, S1-S23).
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <thread>

#include "lease_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

using grpc::StatusCode;
using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

TEST_F(LeaseTest, ValidationS30) {
  v1::Lease out;
  EXPECT_EQ(CreateLease(MakeLease("a", "h", 0, {"NVMLReady"})).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CreateLease(MakeLease("a", "h", 3601, {"NVMLReady"})).error_code(),
            StatusCode::INVALID_ARGUMENT);
  auto s = CreateLease(MakeLease("a", "h", 10, {"not camel"}));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("lease.spec.condition_types[0]"), std::string::npos);
  EXPECT_EQ(CreateLease(MakeLease("a", "h", 10, {"NVMLReady", "NVMLReady"})).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CreateLease(MakeLease("Bad_Name", "h", 10, {"NVMLReady"})).error_code(),
            StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(CreateLease(MakeLease("a", "h", 3600, {"NVMLReady", "example.com/Fan"}), &out).ok());
  // S3 and S1 like any object: server fields, a revision, renew_time filled.
  EXPECT_EQ(out.metadata().namespace_(), "default");
  EXPECT_EQ(out.metadata().uid().size(), 36u);
  EXPECT_FALSE(out.metadata().resource_version().empty());
  EXPECT_TRUE(out.spec().has_renew_time());
  EXPECT_TRUE(out.spec().has_acquire_time());
  EXPECT_EQ(CreateLease(MakeLease("a", "h", 10, {"Other"})).error_code(),
            StatusCode::ALREADY_EXISTS);
}

TEST_F(LeaseTest, OneLiveOwnerPerConditionTypeS30) {
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"})).ok());
  auto s = CreateLease(MakeLease("other", "node-2", 10, {"DCGMHealthy", "NVMLReady"}));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("default/nvml"), std::string::npos) << s.error_message();
  // Once the owner's lease expired, another lease may claim the type.
  std::this_thread::sleep_for(milliseconds(1100));
  EXPECT_TRUE(CreateLease(MakeLease("other", "node-2", 10, {"DCGMHealthy", "NVMLReady"})).ok());
}

TEST_F(LeaseTest, ListAndWatchLeasesS30) {
  v1::Lease a;
  ASSERT_TRUE(CreateLease(MakeLease("a", "h", 30, {"NVMLReady"}), &a).ok());
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(5));
  v1::WatchLeasesRequest req;
  req.mutable_opts()->set_resource_version(a.metadata().resource_version());
  auto reader = lease_stub().WatchLeases(&ctx, req);
  v1::Lease renewed;
  ASSERT_TRUE(Renew("a", &renewed).ok());
  v1::WatchLeasesResponse event;
  ASSERT_TRUE(reader->Read(&event)) << reader->Finish().error_message();
  EXPECT_EQ(event.type(), "MODIFIED");
  EXPECT_EQ(event.object().metadata().resource_version(), renewed.metadata().resource_version());
  ctx.TryCancel();
  grpc::ClientContext list_ctx;
  v1::ListLeasesRequest list_req;
  v1::ListLeasesResponse list;
  ASSERT_TRUE(lease_stub().ListLeases(&list_ctx, list_req, &list).ok());
  ASSERT_EQ(list.lease_list().items_size(), 1);
  EXPECT_EQ(list.lease_list().metadata().resource_version(), renewed.metadata().resource_version());
}

TEST_F(LeaseTest, ExpirySetsOwnedConditionsUnknownS28) {
  for (int i = 0; i < 3; ++i) CreateGpuWithConditions(i);
  v1::Lease lease;
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"}), &lease).ok());
  // A consumer watching from now sees every GPU's NVMLReady turn Unknown.
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(5));
  v1::WatchGpusRequest req;
  v1::GpuList list;
  ASSERT_TRUE(List({}, &list).ok());
  req.mutable_opts()->set_resource_version(list.metadata().resource_version());
  auto reader = stub().WatchGpus(&ctx, req);
  const auto start = steady_clock::now();
  std::set<std::string> unknown;
  v1::WatchGpusResponse event;
  while (unknown.size() < 3 && reader->Read(&event)) {
    ASSERT_EQ(event.type(), "MODIFIED");
    const auto* c = Find(event.object(), "NVMLReady");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->status(), "Unknown");
    EXPECT_EQ(c->reason(), "ProviderLeaseExpired");
    EXPECT_NE(c->message().find("node-1"), std::string::npos) << c->message();
    EXPECT_NE(c->message().find("default/nvml"), std::string::npos) << c->message();
    // What the condition said before stays readable at the message's end (a provider restarted
    // after the expiry reads its fault from there).
    EXPECT_NE(c->message().find("; before: True Healthy since "), std::string::npos) << c->message();
    // Transition time moved (S6); the condition the lease does not own stays.
    EXPECT_GT(TimeUtil::TimestampToMilliseconds(c->last_transition_time()),
              TimeUtil::TimestampToMilliseconds(lease.spec().renew_time()));
    const auto* other = Find(event.object(), "DCGMHealthy");
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(other->status(), "True");
    unknown.insert(event.object().metadata().name());
  }
  EXPECT_EQ(unknown.size(), 3u) << (unknown.size() < 3 ? reader->Finish().error_message() : "");
  // Within lease duration + 1 s.
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
  ctx.TryCancel();
  // Nothing is deleted; the lease is still there; counters say what happened.
  ASSERT_TRUE(List({}, &list).ok());
  EXPECT_EQ(list.items_size(), 3);
  // A watcher may see a GPU's write before the expiry's thread has counted
  // it: the counter catches up within moments.
  Eventually([&] { return lease_controller().GetStats().conditions_set_unknown >= 3u; }, seconds(2));
  auto stats = lease_controller().GetStats();
  EXPECT_EQ(stats.expired, 1u);
  EXPECT_EQ(stats.live, 0u);
  EXPECT_EQ(stats.conditions_set_unknown, 3u);
}

TEST_F(LeaseTest, NoTrueWhileExpiredThenRenewalS29) {
  v1::Gpu gpu = CreateGpuWithConditions(1);
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"})).ok());
  // Wait for the expiry's write.
  Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(3));
  v1::Gpu expired = Current(1);
  ASSERT_EQ(Find(expired, "NVMLReady")->status(), "Unknown");
  // S29: True refused, also through a create; False and other types allowed.
  auto s = UpdateStatus(WithCondition(expired, "NVMLReady", "True"));
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("lease default/nvml expired"), std::string::npos)
      << s.error_message();
  v1::Gpu fresh = MakeGpu(2);
  fresh.mutable_status()->mutable_conditions(0)->set_type("NVMLReady");
  EXPECT_EQ(Create(fresh).error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Patch(UuidFor(1), "application/strategic-merge-patch+json",
                  R"({"status":{"conditions":[{"type":"NVMLReady","status":"True"}]}})", "status")
                .error_code(),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Current(1).metadata().resource_version(), expired.metadata().resource_version());
  EXPECT_TRUE(UpdateStatus(WithCondition(Current(1), "DCGMHealthy", "False")).ok());
  // Renewing re-enables True.
  ASSERT_TRUE(Renew("nvml").ok());
  v1::Gpu healthy;
  ASSERT_TRUE(UpdateStatus(WithCondition(Current(1), "NVMLReady", "True"), &healthy).ok());
  EXPECT_EQ(Find(healthy, "NVMLReady")->status(), "True");
}

TEST_F(LeaseTest, TakeOverOfAnExpiredLeaseS29) {
  v1::Lease held;
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"}), &held).ok());
  EXPECT_EQ(held.spec().lease_transitions(), 0);
  std::this_thread::sleep_for(milliseconds(1100));
  v1::Lease take = held;
  take.mutable_spec()->set_holder_identity("node-1-new-pod");
  take.mutable_spec()->clear_renew_time();
  take.mutable_spec()->clear_acquire_time();
  v1::Lease taken;
  ASSERT_TRUE(UpdateLease(take, &taken).ok());
  EXPECT_EQ(taken.spec().holder_identity(), "node-1-new-pod");
  EXPECT_EQ(taken.spec().lease_transitions(), 1);
  EXPECT_GT(TimeUtil::TimestampToMilliseconds(taken.spec().acquire_time()),
            TimeUtil::TimestampToMilliseconds(held.spec().acquire_time()));
  // A second contender holding the old version loses (S5).
  take.mutable_spec()->set_holder_identity("someone-else");
  EXPECT_EQ(UpdateLease(take).error_code(), StatusCode::ABORTED);
}

TEST_F(LeaseTest, ExpiryMeasuredFromServerStartS28) {
  // A lease last renewed long before this server started (as after a
  // restart with durable state) gets a full duration from the start.
  v1::Gpu gpu = CreateGpuWithConditions(1);
  v1::Lease lease = MakeLease("nvml", "node-1", 2, {"NVMLReady"});
  *lease.mutable_spec()->mutable_renew_time() =
      TimeUtil::SecondsToTimestamp(TimeUtil::GetCurrentTime().seconds() - 3600);
  ASSERT_TRUE(CreateLease(lease).ok());
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "True");
  EXPECT_EQ(lease_controller().GetStats().live, 1u);
  // Renewed in time: still nothing turns Unknown.
  ASSERT_TRUE(Renew("nvml").ok());
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "True");
}

// S28: a renew_time later than the server's clock counts from when the
// write arrived, so a lease dated in the future (a hostile or broken clock)
// still expires one duration after its last write; dates beyond what the
// clock's nanoseconds hold (year 9999) and before the epoch neither wrap nor
// expire the lease at once.
TEST_F(LeaseTest, RenewTimeInTheFutureOrOutOfClockRangeStillExpiresS28) {
  struct Case {
    const char* name;
    std::int64_t renew_seconds;
  };
  const std::int64_t now = TimeUtil::GetCurrentTime().seconds();
  const Case cases[] = {
      {"next-century", now + 100LL * 365 * 86400},
      {"year-9999", TimeUtil::kTimestampMaxSeconds},
      {"year-0001", TimeUtil::kTimestampMinSeconds},
  };
  int index = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string type = "Probe" + std::to_string(index);
    v1::Gpu gpu = MakeGpu(index);
    gpu.mutable_status()->clear_conditions();
    auto* condition = gpu.mutable_status()->add_conditions();
    condition->set_type(type);
    condition->set_status("True");
    condition->set_reason("Healthy");
    ASSERT_TRUE(Create(gpu).ok());
    v1::Lease lease = MakeLease(c.name, "node-1", 2, {type});
    *lease.mutable_spec()->mutable_renew_time() = TimeUtil::SecondsToTimestamp(c.renew_seconds);
    const auto created = steady_clock::now();
    ASSERT_TRUE(CreateLease(lease).ok());
    // A year-0001 renewal counts from the server's start (seconds ago
    // here, so it may expire at once); the others from the lease's creation.
    const bool from_creation = c.renew_seconds > 0;
    if (from_creation) {
      EXPECT_EQ(Find(Current(index), type)->status(), "True") << "expired at once";
    }
    ASSERT_TRUE(Eventually([&] { return Find(Current(index), type)->status() == "Unknown"; }, seconds(5)))
        << "never expired";
    if (from_creation) {
      EXPECT_GE(steady_clock::now() - created, milliseconds(1900));
    }
    ++index;
  }
}

// S29, S30: lease_transitions stops at the largest int32 instead of
// wrapping negative, which would make every later update of the lease
// invalid.
TEST_F(LeaseTest, LeaseTransitionsSaturateS29S30) {
  v1::Lease lease = MakeLease("nvml", "a", 30, {"NVMLReady"});
  lease.mutable_spec()->set_lease_transitions(std::numeric_limits<std::int32_t>::max());
  v1::Lease held;
  ASSERT_TRUE(CreateLease(lease, &held).ok());
  held.mutable_spec()->set_holder_identity("b");
  held.mutable_spec()->clear_renew_time();
  v1::Lease taken;
  ASSERT_TRUE(UpdateLease(held, &taken).ok());
  EXPECT_EQ(taken.spec().lease_transitions(), std::numeric_limits<std::int32_t>::max());
  // A read-modify-write renewal still passes validation.
  v1::Lease renewed;
  ASSERT_TRUE(Renew("nvml", &renewed).ok());
  EXPECT_EQ(renewed.spec().holder_identity(), "b");
}

TEST_F(LeaseTest, DeletedLeaseReleasesItsTypesS30) {
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 30, {"NVMLReady"})).ok());
  grpc::ClientContext ctx;
  v1::DeleteLeaseRequest req;
  req.set_name("nvml");
  google::protobuf::Empty empty;
  ASSERT_TRUE(lease_stub().DeleteLease(&ctx, req, &empty).ok());
  EXPECT_TRUE(CreateLease(MakeLease("other", "node-2", 30, {"NVMLReady"})).ok());
}

// S28: a lease deleted while live gives up its conditions as an expiry
// would: they turn Unknown at once instead of staying True with nobody to
// renew them; a type another live lease owns meanwhile is left alone.
TEST_F(LeaseTest, DeletedLiveLeaseSetsItsConditionsUnknownS28) {
  CreateGpuWithConditions(1);
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 30, {"NVMLReady"})).ok());
  ASSERT_TRUE(CreateLease(MakeLease("dcgm", "node-1", 30, {"DCGMHealthy"})).ok());
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::DeleteLeaseRequest req;
  req.set_name("nvml");
  google::protobuf::Empty empty;
  ASSERT_TRUE(lease_stub().DeleteLease(&ctx, req, &empty).ok());
  ASSERT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(5)))
      << "a deleted lease left its condition True";
  const v1::Gpu expired = Current(1);
  const v1::Condition* c = Find(expired, "NVMLReady");
  EXPECT_EQ(c->reason(), "ProviderLeaseExpired");
  EXPECT_NE(c->message().find("lease default/nvml held by \"node-1\" was deleted"), std::string::npos)
      << c->message();
  EXPECT_NE(c->message().find("; before: True Healthy"), std::string::npos) << c->message();
  EXPECT_EQ(Find(Current(1), "DCGMHealthy")->status(), "True");  // another lease's type
  // Nobody owns the type now: a provider without a lease may set it again.
  v1::Gpu healthy = WithCondition(Current(1), "NVMLReady", "True");
  healthy.mutable_metadata()->clear_resource_version();
  EXPECT_TRUE(UpdateStatus(healthy).ok());
}

// S26, S30: a lease write that admission saw but the store could not commit
// leaves the lease table as it was: the lease that was never stored owns
// nothing, and one that failed to be deleted still owns its types.
TEST_F(LeaseTest, LeaseWriteThatFailsToCommitChangesNoOwnershipS26S30) {
  auto backend = std::make_shared<FaultyBackend>();
  ServerSetup setup;
  setup.lease_backend = backend;
  StartServer(setup);
  backend->fail_next = true;
  grpc::Status s = CreateLease(MakeLease("nvml", "node-1", 30, {"NVMLReady"}));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(lease_controller().GetStats().live, 0u);
  // Without the rollback the phantom lease would refuse this (S30).
  ASSERT_TRUE(CreateLease(MakeLease("other", "node-2", 30, {"NVMLReady"})).ok());
  EXPECT_EQ(lease_controller().GetStats().live, 1u);

  backend->fail_next = true;
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::DeleteLeaseRequest req;
  req.set_name("other");
  google::protobuf::Empty empty;
  EXPECT_EQ(lease_stub().DeleteLease(&ctx, req, &empty).error_code(), StatusCode::UNAVAILABLE);
  // Still stored, still the owner.
  EXPECT_EQ(CreateLease(MakeLease("nvml", "node-1", 30, {"NVMLReady"})).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(lease_controller().GetStats().live, 1u);
}

// S26, S28: an expiry write that a storage fault refused is tried again
// until it is made; the conditions never stay True because the disk was full
// at the moment the lease expired.
TEST_F(LeaseTest, ExpiryRefusedByAStorageFaultIsRetriedS26S28) {
  auto backend = std::make_shared<FaultyBackend>();
  ServerSetup setup;
  setup.store.backend = backend;  // the GPUs'; leases stay in memory
  StartServer(setup);
  CreateGpuWithConditions(1);
  backend->failing = true;
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"})).ok());
  ASSERT_TRUE(Eventually([&] { return backend->failures.load() >= 2; }, seconds(15))) << "the expiry was not tried again";
  EXPECT_EQ(Find(Current(1), "NVMLReady")->status(), "True");  // nothing was written
  backend->failing = false;
  ASSERT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(15)));
  EXPECT_EQ(Find(Current(1), "NVMLReady")->reason(), "ProviderLeaseExpired");
  Eventually([&] { return lease_controller().GetStats().conditions_set_unknown >= 1u; }, seconds(2));  // counted after the write
  EXPECT_EQ(lease_controller().GetStats().conditions_set_unknown, 1u);
}

// S28: expiry writes are the server's own. A GPU stored under wider limits
// no longer validates once --max-conditions is lowered across a restart;
// its owned condition must still turn Unknown when the lease expires.
TEST_F(LeaseTest, ExpiryIsNotRefusedByAGpuThatNoLongerValidatesS28) {
  auto gpus = OpenSqlite<v1::Gpu>(dir() + "/kept.db");
  ASSERT_TRUE(gpus);
  ServerSetup wide;
  wide.store.backend = gpus;
  StartServer(wide);
  v1::Gpu gpu = MakeGpu(1);
  gpu.mutable_status()->clear_conditions();
  for (const char* type : {"NVMLReady", "DCGMHealthy", "PCIeHealthy", "ThermalOk"}) {
    auto* c = gpu.mutable_status()->add_conditions();
    c->set_type(type);
    c->set_status("True");
    c->set_reason("Healthy");
  }
  ASSERT_TRUE(Create(gpu).ok());
  ServerSetup narrow;
  narrow.store.backend = gpus;
  narrow.limits.max_conditions = 2;
  StartServer(narrow);
  ASSERT_EQ(Find(Current(1), "NVMLReady")->status(), "True");
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"})).ok());
  EXPECT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(10)))
      << "the expiry write was refused by today's limits";
  EXPECT_EQ(Find(Current(1), "DCGMHealthy")->status(), "True");
}

// S28: a GPU whose create was admitted while the lease was live but became
// visible only after the lease expired (its commit was slow) is expired
// too: expiry waits for the writes admitted before it, not only for what a
// list shows at its deadline.
TEST_F(LeaseTest, GpuCommittedAfterTheExpiryStillExpiresS28) {
  auto backend = std::make_shared<SlowBackend>();
  ServerSetup setup;
  setup.store.backend = backend;  // the GPUs'
  StartServer(setup);
  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"})).ok());
  backend->delay_ms = 1500;  // admitted now, visible ~1.5 s later: after the deadline
  CreateGpuWithConditions(1);
  backend->delay_ms = 0;
  ASSERT_TRUE(Eventually([&] { return lease_controller().GetStats().expired == 1u; }, seconds(5)));
  EXPECT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(5)))
      << "the GPU kept NVMLReady True after its lease expired";
  EXPECT_EQ(Find(Current(1), "DCGMHealthy")->status(), "True");
}

// S28, S33: expiry writes are the server's own safety writes: a GPU store
// that clients filled to its byte bound still takes them, while a client's
// write that grows an object is refused.
TEST_F(LeaseTest, ExpiryIsNotRefusedByAFullStoreS28S33) {
  ServerSetup setup;
  setup.store.max_total_object_bytes = 64 << 10;
  StartServer(setup);
  CreateGpuWithConditions(1);
  // Fill the store to within a byte of its bound with a second GPU's annotation.
  v1::Gpu filler;
  ASSERT_TRUE(Create(MakeGpu(2), &filler).ok());
  filler.mutable_metadata()->clear_resource_version();
  std::size_t fits = 0, too_big = 64 << 10;
  while (too_big - fits > 1) {
    const std::size_t size = (fits + too_big) / 2;
    (*filler.mutable_metadata()->mutable_annotations())["example.com/fill"] = std::string(size, 'x');
    grpc::Status s = Update(filler);
    if (s.ok()) {
      fits = size;
    } else {
      ASSERT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      too_big = size;
    }
  }
  v1::Gpu grown = WithCondition(Current(1), "DCGMHealthy", "False");
  grown.mutable_metadata()->clear_resource_version();
  EXPECT_EQ(UpdateStatus(grown).error_code(), StatusCode::RESOURCE_EXHAUSTED) << "the store is not full";

  ASSERT_TRUE(CreateLease(MakeLease("nvml", "node-1", 1, {"NVMLReady"})).ok());  // the lease store is not full
  ASSERT_TRUE(Eventually([&] { return Find(Current(1), "NVMLReady")->status() == "Unknown"; }, seconds(15)))
      << "the expiry write was refused by the byte bound";
  EXPECT_EQ(Find(Current(1), "NVMLReady")->reason(), "ProviderLeaseExpired");
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
