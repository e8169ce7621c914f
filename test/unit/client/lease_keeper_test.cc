// LeaseKeeper over a FakeClient (the real LeaseService and LeaseController
// in-process): its callbacks run outside its lock, so they may call back
// into the keeper; Stop() is safe from them and from several threads at
// once, and releases whatever lease the server still holds in the keeper's
// name, renewing or not, but never another holder's.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deviceapi/conditions.h"
#include "deviceapi/fake_client.h"
#include "deviceapi/lease.h"
#include "eventually.h"

namespace deviceapi {
namespace {

using namespace std::chrono_literals;

using deviceapi::testing::Eventually;

// Runs `f` on a thread of its own, so a test can tell whether it returns in
// time without hanging when it does not.
class Probe {
 public:
  explicit Probe(std::function<void()> f) : state_(std::make_shared<State>()) {
    std::thread([state = state_, f = std::move(f)] {
      f();
      std::lock_guard lock(state->mu);
      state->done = true;
      state->cv.notify_all();
    }).detach();
  }
  bool ReturnsWithin(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, timeout, [&] { return state_->done; });
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  std::shared_ptr<State> state_;
};

// Opens and closes on command, for a callback that must block a while.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

LeaseKeeperOptions Options(const std::string& holder) {
  LeaseKeeperOptions o;
  o.name = "nvml-provider";
  o.holder = holder;
  o.condition_types = {"NVMLReady"};
  o.duration = 30s;
  o.renew_period = 20ms;
  return o;
}

std::string HolderOnServer(LeaseClient& leases) {
  StatusOr<Lease> lease = leases.Get("nvml-provider");
  return lease.ok() ? lease->spec().holder_identity() : "error: " + lease.status().ToString();
}

TEST(LeaseKeeper, RenewIfRunsOutsideTheKeepersLock) {
  FakeClient client;
  LeaseClient leases(client);
  std::unique_ptr<LeaseKeeper> keeper;
  std::atomic<int> asks{0};
  std::atomic<bool> last_answered{false};
  Gate probed;
  LeaseKeeperOptions o = Options("node-a");
  o.renew_if = [&] {
    if (++asks == 2) {  // after the first renewal: a keeper is fully set up
      Probe last([&] { (void)keeper->Last(); });
      last_answered = last.ReturnsWithin(1s);
      probed.Open();
    }
    return true;
  };
  keeper = std::make_unique<LeaseKeeper>(leases, o);
  keeper->Start();
  probed.Wait();
  EXPECT_TRUE(last_answered.load()) << "Last() waited for renew_if to return";
  EXPECT_EQ(keeper->Last().spec().holder_identity(), "node-a");
  keeper->Stop();
}

TEST(LeaseKeeper, ABlockingRenewIfBlocksNeitherLastNorSetRenewing) {
  FakeClient client;
  LeaseClient leases(client);
  Gate entered, leave;
  std::atomic<int> asks{0};
  LeaseKeeperOptions o = Options("node-a");
  o.renew_if = [&] {
    if (++asks == 2) {
      entered.Open();
      leave.Wait();
    }
    return true;
  };
  LeaseKeeper keeper(leases, o);
  keeper.Start();
  entered.Wait();
  Probe reads([&] {
    (void)keeper.Last();
    keeper.SetRenewing(true);
  });
  EXPECT_TRUE(reads.ReturnsWithin(1s));
  leave.Open();
  EXPECT_TRUE(reads.ReturnsWithin(5s));  // the keeper outlives the probe
  keeper.Stop();
}

TEST(LeaseKeeper, StopFromOnAcquiredReturnsAndReleases) {
  FakeClient client;
  LeaseClient leases(client);
  std::unique_ptr<LeaseKeeper> keeper;
  std::atomic<bool> stop_returned{false};
  LeaseKeeperOptions o = Options("node-a");
  o.on_acquired = [&] {
    keeper->Stop();  // on the keeper's own thread
    keeper->Stop();  // still idempotent there
    stop_returned = true;
  };
  keeper = std::make_unique<LeaseKeeper>(leases, o);
  keeper->Start();
  ASSERT_TRUE(Eventually([&] { return stop_returned.load(); }));
  // The thread releases the lease on its way out.
  EXPECT_TRUE(Eventually([&] { return HolderOnServer(leases).empty(); }))
      << HolderOnServer(leases);
  keeper->Stop();  // joins the finished thread
  keeper.reset();
}

TEST(LeaseKeeper, StopFromOnErrorReturns) {
  FakeClient client;
  LeaseClient leases(client);
  LeaseKeeper other(leases, Options("node-b"));
  ASSERT_TRUE(other.RenewOnce().ok());  // a live holder: node-a's attempts fail
  std::unique_ptr<LeaseKeeper> keeper;
  std::atomic<int> errors{0};
  LeaseKeeperOptions o = Options("node-a");
  o.on_error = [&](const Status& status) {
    EXPECT_EQ(status.code(), grpc::StatusCode::FAILED_PRECONDITION) << status.ToString();
    keeper->Stop();
    ++errors;
  };
  keeper = std::make_unique<LeaseKeeper>(leases, o);
  keeper->Start();
  ASSERT_TRUE(Eventually([&] { return errors.load() == 1; }));
  keeper.reset();
  EXPECT_EQ(errors.load(), 1);
  EXPECT_EQ(HolderOnServer(leases), "node-b") << "another holder's lease is not released";
}

TEST(LeaseKeeper, ConcurrentStopsAllReturnAfterTheRelease) {
  FakeClient client;
  LeaseClient leases(client);
  LeaseKeeper keeper(leases, Options("node-a"));
  keeper.Start();
  ASSERT_TRUE(Eventually([&] { return keeper.Held(); }));
  std::atomic<bool> go{false};
  std::vector<std::string> holder_after(4);
  std::vector<std::thread> stoppers;
  for (int i = 0; i < 4; ++i)
    stoppers.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      keeper.Stop();
      holder_after[i] = HolderOnServer(leases);
    });
  go = true;
  for (auto& t : stoppers) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(holder_after[i], "") << "Stop() " << i << " returned early";
}

// A callback's Stop() while another thread's Stop() is already joining the
// keeper's thread: the callback's must see that it runs on that thread and
// return, or the two wait for each other for ever.
TEST(LeaseKeeper, StopFromACallbackWhileAnotherThreadStopsReturns) {
  FakeClient client;
  LeaseClient leases(client);
  // On the heap: a keeper thread that never returns must not outlive them.
  auto keeper_ptr = std::make_shared<std::atomic<LeaseKeeper*>>(nullptr);
  auto entered = std::make_shared<Gate>();
  auto outer_stopping = std::make_shared<Gate>();
  auto inner_returned = std::make_shared<std::atomic<bool>>(false);
  auto asks = std::make_shared<std::atomic<int>>(0);
  LeaseKeeperOptions o = Options("node-a");
  o.renew_if = [=] {
    if (++*asks == 2) {  // the lease is held: the first attempt acquired it
      entered->Open();
      outer_stopping->Wait();
      keeper_ptr->load()->Stop();
      *inner_returned = true;
    }
    return true;
  };
  auto keeper = std::make_unique<LeaseKeeper>(leases, o);
  LeaseKeeper* k = keeper.get();
  *keeper_ptr = k;
  keeper->Start();
  entered->Wait();
  EXPECT_EQ(HolderOnServer(leases), "node-a");
  Probe outer([k] { k->Stop(); });
  std::this_thread::sleep_for(200ms);  // the outer Stop() is joining by now
  outer_stopping->Open();
  const bool outer_returned = outer.ReturnsWithin(5s);
  EXPECT_TRUE(outer_returned) << "Stop() from another thread did not return";
  EXPECT_TRUE(Eventually([&] { return inner_returned->load(); }, 5s))
      << "Stop() from renew_if did not return";
  if (!outer_returned || !inner_returned->load()) {
    (void)keeper.release();  // its threads wait for each other: leave it be
    return;
  }
  EXPECT_EQ(HolderOnServer(leases), "");
}

// A GPU whose NVMLReady the lease named "nvml-provider" owns.
void CreateHealthyGpu(Client& client) {
  Gpu gpu;
  gpu.mutable_metadata()->set_name("gpu-0");
  gpu.mutable_spec()->set_uuid("GPU-00000000-0000-4000-8000-000000000000");
  SetCondition(gpu.mutable_status(), MakeCondition("NVMLReady", kConditionTrue, "Healthy"));
  ASSERT_TRUE(client.Create(gpu).ok());
}

std::string NvmlReady(Client& client) {
  StatusOr<Gpu> gpu = client.Get("gpu-0");
  const Condition* c = gpu.ok() ? FindCondition(gpu->status(), "NVMLReady") : nullptr;
  return c != nullptr ? c->status() : "";
}

// S28: renewals that stop (renew_if false, SetRenewing(false)) leave the
// lease live on the server in this holder's name; Stop() still releases
// it, so the owned condition turns Unknown within about a second instead of
// up to a lease duration (30 s here) later.
TEST(LeaseKeeper, StopReleasesALeaseItNoLongerRenewsS28) {
  for (const bool via_renew_if : {true, false}) {
    SCOPED_TRACE(via_renew_if ? "renew_if false" : "SetRenewing(false)");
    FakeClient client;
    LeaseClient leases(client);
    CreateHealthyGpu(client);
    std::atomic<bool> renew{true};
    LeaseKeeperOptions o = Options("node-a");
    if (via_renew_if) o.renew_if = [&] { return renew.load(); };
    LeaseKeeper keeper(leases, o);
    keeper.Start();
    ASSERT_TRUE(Eventually([&] { return keeper.Held(); }));
    if (via_renew_if) renew = false;
    else keeper.SetRenewing(false);
    ASSERT_TRUE(Eventually([&] { return !keeper.Held(); }));
    ASSERT_EQ(HolderOnServer(leases), "node-a");
    EXPECT_EQ(NvmlReady(client), "True");

    const auto stopped = std::chrono::steady_clock::now();
    keeper.Stop();
    EXPECT_EQ(HolderOnServer(leases), "");
    EXPECT_TRUE(Eventually([&] { return NvmlReady(client) == "Unknown"; }));
    EXPECT_LT(std::chrono::steady_clock::now() - stopped, 5s);
  }
}

// The lease changed on the server since the keeper last wrote it (here
// another writer's annotation; in the field, a renewal whose answer was
// lost): the release looks again and still releases it.
TEST(LeaseKeeper, StopReleasesALeaseThatChangedSinceItsLastRenewal) {
  FakeClient client;
  LeaseClient leases(client);
  LeaseKeeperOptions o = Options("node-a");
  o.renew_period = 1h;  // one acquisition, then quiet
  LeaseKeeper keeper(leases, o);
  keeper.Start();
  ASSERT_TRUE(Eventually([&] { return keeper.Held(); }));
  StatusOr<Lease> lease = leases.Get("nvml-provider");
  ASSERT_TRUE(lease.ok());
  (*lease->mutable_metadata()->mutable_annotations())["note"] = "edited";
  ASSERT_TRUE(leases.Update(*lease).ok());
  ASSERT_NE(HolderOnServer(leases), "");
  keeper.Stop();
  EXPECT_EQ(HolderOnServer(leases), "");
}

// S29: after this keeper's lease ran out and another holder took it over,
// Stop() leaves the new holder's lease alone.
TEST(LeaseKeeper, StopNeverReleasesAnotherHoldersLeaseS29) {
  FakeClient client;
  LeaseClient leases(client);
  LeaseKeeperOptions o = Options("node-a");
  o.duration = 1s;
  LeaseKeeper keeper(leases, o);
  keeper.Start();
  ASSERT_TRUE(Eventually([&] { return keeper.Held(); }));
  keeper.SetRenewing(false);
  LeaseKeeper other(leases, Options("node-b"));
  ASSERT_TRUE(Eventually([&] { return other.RenewOnce().ok(); }));
  keeper.Stop();
  EXPECT_EQ(HolderOnServer(leases), "node-b");
}

}  // namespace
}  // namespace deviceapi
