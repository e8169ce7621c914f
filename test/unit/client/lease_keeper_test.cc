// LeaseKeeper's threading over a FakeClient (the real LeaseService and
// LeaseController in-process): its callbacks run outside its lock, so they
// may call back into the keeper, and Stop() is safe from them and from
// several threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deviceapi/fake_client.h"
#include "deviceapi/lease.h"

namespace deviceapi {
namespace {

using namespace std::chrono_literals;

template <typename F>
bool Eventually(F f, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!f()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

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

}  // namespace
}  // namespace deviceapi
