// The SDK's LeaseKeeper against the real LeaseService and LeaseController
// (S28-S30): it acquires and renews, lets the lease run out when told to stop
// renewing (the owned conditions turn Unknown), counts the next renewal as an
// acquisition, loses to a live holder, and on Stop releases the lease so the
// conditions turn Unknown at once and another holder takes over.
#include <grpcpp/support/client_interceptor.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "deviceapi/client.h"
#include "deviceapi/lease.h"
#include "fault_proxy.h"
#include "service_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

using std::chrono::system_clock;

// What a test does to the lease calls of a client of its own, on the calling
// thread: `before` runs before a call is sent (it may hold the call back),
// `after` may replace the status the call answers, so a test can play a
// slow network or an answer lost after the server made the change.
class LeaseFaults {
 public:
  using Before = std::function<void(const std::string& method, system_clock::time_point deadline)>;
  using After = std::function<void(const std::string& method, grpc::Status* status)>;
  void SetBefore(Before f) {
    std::lock_guard lock(mu_);
    before_ = std::move(f);
  }
  void SetAfter(After f) {
    std::lock_guard lock(mu_);
    after_ = std::move(f);
  }
  void RunBefore(const std::string& method, system_clock::time_point deadline) {
    Before f;
    {
      std::lock_guard lock(mu_);
      f = before_;
    }
    if (f) f(method, deadline);
  }
  void RunAfter(const std::string& method, grpc::Status* status) {
    After f;
    {
      std::lock_guard lock(mu_);
      f = after_;
    }
    if (f) f(method, status);
  }

 private:
  std::mutex mu_;
  Before before_;
  After after_;
};

class FaultInterceptor : public grpc::experimental::Interceptor {
 public:
  FaultInterceptor(grpc::experimental::ClientRpcInfo* info, LeaseFaults& faults)
      : info_(info), faults_(faults) {
    const std::string method = info->method();  // "/package.Service/Method"
    method_ = method.substr(method.rfind('/') + 1);
  }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_INITIAL_METADATA))
      faults_.RunBefore(method_, info_->client_context()->deadline());
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_STATUS))
      faults_.RunAfter(method_, methods->GetRecvStatus());
    methods->Proceed();
  }

 private:
  grpc::experimental::ClientRpcInfo* info_;
  LeaseFaults& faults_;
  std::string method_;
};

class FaultInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit FaultInterceptorFactory(LeaseFaults& faults) : faults_(faults) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new FaultInterceptor(info, faults_);
  }

 private:
  LeaseFaults& faults_;
};

class LeaseKeeperTest : public ServiceFixture {
 protected:
  void SetUp() override {
    ServiceFixture::SetUp();
    client_ = std::make_unique<Client>(channel());
    leases_ = std::make_unique<LeaseClient>(*client_);
    v1::Gpu gpu = MakeGpu(0);
    gpu.mutable_status()->clear_conditions();
    auto* c = gpu.mutable_status()->add_conditions();
    c->set_type("NVMLReady");
    c->set_status("True");
    c->set_reason("Healthy");
    ASSERT_TRUE(Create(gpu).ok());
  }
  void TearDown() override {
    faulty_leases_.reset();
    faulty_client_.reset();
    leases_.reset();
    client_.reset();
    ServiceFixture::TearDown();
  }

  // A LeaseClient on a channel of its own, whose calls faults_ acts on.
  LeaseClient& FaultyLeases() {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<FaultInterceptorFactory>(faults_));
    faulty_client_ = std::make_unique<Client>(grpc::experimental::CreateCustomChannelWithInterceptors(
        address(), grpc::InsecureChannelCredentials(), grpc::ChannelArguments(), std::move(creators)));
    faulty_leases_ = std::make_unique<LeaseClient>(*faulty_client_);
    return *faulty_leases_;
  }
  std::string HolderOnServer() {
    StatusOr<Lease> lease = leases_->Get("nvml-provider");
    return lease.ok() ? lease->spec().holder_identity() : "error: " + lease.status().ToString();
  }

  LeaseKeeperOptions Options(const std::string& holder) {
    LeaseKeeperOptions o;
    o.name = "nvml-provider";
    o.holder = holder;
    o.condition_types = {"NVMLReady"};
    o.duration = std::chrono::seconds(1);
    o.renew_period = milliseconds(200);
    o.on_acquired = [this] { ++acquisitions_; };
    return o;
  }
  std::string NvmlReady() {
    v1::Gpu gpu;
    EXPECT_TRUE(Get(UuidFor(0), "", &gpu).ok());
    for (const auto& c : gpu.status().conditions())
      if (c.type() == "NVMLReady") return c.status();
    return "";
  }
  std::unique_ptr<Client> client_;
  std::unique_ptr<LeaseClient> leases_;
  LeaseFaults faults_;
  std::unique_ptr<Client> faulty_client_;
  std::unique_ptr<LeaseClient> faulty_leases_;
  std::atomic<int> acquisitions_{0};
};

TEST_F(LeaseKeeperTest, AcquiresRenewsLapsesAndReacquiresS28S29) {
  LeaseKeeper keeper(*leases_, Options("node-a"));
  keeper.Start();
  ASSERT_TRUE(Eventually([&] { return keeper.Held(); }));
  EXPECT_EQ(acquisitions_.load(), 1);
  StatusOr<Lease> lease = leases_->Get("nvml-provider");
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(lease->spec().holder_identity(), "node-a");
  ASSERT_EQ(lease->spec().condition_types_size(), 1);
  EXPECT_EQ(lease->spec().condition_types(0), "NVMLReady");

  // Renewals keep a 1 s lease alive for 2 s, and are not acquisitions.
  std::this_thread::sleep_for(milliseconds(2000));
  EXPECT_EQ(NvmlReady(), "True");
  EXPECT_EQ(acquisitions_.load(), 1);

  // Stopped renewing: the server turns the owned condition Unknown.
  keeper.SetRenewing(false);
  ASSERT_TRUE(Eventually([&] { return NvmlReady() == "Unknown"; }));
  EXPECT_FALSE(keeper.Held());
  // Renewing again is an acquisition: the provider must write its
  // conditions anew (the server set them Unknown).
  keeper.SetRenewing(true);
  ASSERT_TRUE(Eventually([&] { return acquisitions_.load() == 2; }));
  EXPECT_TRUE(keeper.Held());
}

TEST_F(LeaseKeeperTest, LosesToALiveHolderAndTakesOverAfterReleaseS29S30) {
  LeaseKeeper first(*leases_, Options("node-a"));
  first.Start();
  ASSERT_TRUE(Eventually([&] { return first.Held(); }));

  LeaseKeeper second(*leases_, Options("node-b"));
  Status lost = second.RenewOnce();
  EXPECT_EQ(lost.code(), grpc::StatusCode::FAILED_PRECONDITION) << lost.ToString();
  EXPECT_NE(lost.message().find("node-a"), std::string::npos) << lost.message();
  EXPECT_FALSE(second.Held());

  // Stop releases: holder cleared, one second left, so the condition turns
  // Unknown within about a second, not a full duration later.
  const auto stopped = steady_clock::now();
  first.Stop();
  StatusOr<Lease> released = leases_->Get("nvml-provider");
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released->spec().holder_identity(), "");
  ASSERT_TRUE(Eventually([&] { return NvmlReady() == "Unknown"; }));
  EXPECT_LT(steady_clock::now() - stopped, milliseconds(3000));

  Status took = second.RenewOnce();
  ASSERT_TRUE(took.ok()) << took.ToString();
  EXPECT_TRUE(second.Held());
  StatusOr<Lease> taken = leases_->Get("nvml-provider");
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->spec().holder_identity(), "node-b");
  EXPECT_GE(taken->spec().lease_transitions(), 1);
}

// S28: a renewal read before the lease ran out but written after (the server
// set the owned condition Unknown meanwhile) succeeds, since expiry changes
// the GPUs and not the lease; it is still an acquisition, or nothing writes
// the condition again while the keeper holds the lease.
TEST_F(LeaseKeeperTest, ARenewalWrittenAfterTheExpiryRunsOnAcquiredS28) {
  LeaseKeeper keeper(FaultyLeases(), Options("node-a"));  // a 1 s lease
  ASSERT_TRUE(keeper.RenewOnce().ok());
  ASSERT_EQ(acquisitions_.load(), 1);
  faults_.SetBefore([this](const std::string& method, system_clock::time_point) {
    // The renewal's update, held back until the lease expired on the server.
    if (method == "UpdateLease") {
      EXPECT_TRUE(Eventually([&] { return NvmlReady() == "Unknown"; }));
    }
  });
  Status renewed = keeper.RenewOnce();
  ASSERT_TRUE(renewed.ok()) << renewed.ToString();
  EXPECT_TRUE(keeper.Held());
  EXPECT_EQ(NvmlReady(), "Unknown");
  EXPECT_EQ(acquisitions_.load(), 2) << "on_acquired did not run after the lease had lapsed";
}

// A create the server made but whose answer was lost: the keeper saw no
// lease, while the server holds one in its name for the full duration;
// Stop() still finds and releases it, so the condition turns Unknown now.
TEST_F(LeaseKeeperTest, StopReleasesALeaseWhoseCreateAnswerWasLostS28) {
  faults_.SetAfter([](const std::string& method, grpc::Status* status) {
    if (method == "CreateLease" && status->ok())
      *status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the answer was lost");
  });
  LeaseKeeperOptions o = Options("node-a");
  o.duration = std::chrono::seconds(30);
  LeaseKeeper keeper(FaultyLeases(), o);
  Status created = keeper.RenewOnce();
  EXPECT_EQ(created.code(), grpc::StatusCode::UNAVAILABLE) << created.ToString();
  ASSERT_EQ(HolderOnServer(), "node-a");
  keeper.Stop();
  EXPECT_EQ(HolderOnServer(), "");
  EXPECT_TRUE(Eventually([&] { return NvmlReady() == "Unknown"; }));
}

// A server that does not answer the release: Stop() gives up after the 2 s
// lease.h promises, not 2 s on the keeper's thread and 2 s more on its own.
TEST_F(LeaseKeeperTest, StopWaitsAtMostTwoSecondsForTheRelease) {
  LeaseKeeper keeper(FaultyLeases(), Options("node-a"));
  keeper.Start();
  ASSERT_TRUE(Eventually([&] { return keeper.Held(); }));
  keeper.SetRenewing(false);  // from here on, the only updates are releases
  ASSERT_TRUE(Eventually([&] { return !keeper.Held(); }));
  faults_.SetBefore([](const std::string& method, system_clock::time_point deadline) {
    if (method == "UpdateLease") std::this_thread::sleep_until(deadline + milliseconds(50));
  });
  const auto stopped = steady_clock::now();
  keeper.Stop();
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - stopped);
  EXPECT_LT(took.count(), 3000) << "Stop() waited " << took.count() << " ms";
}

}  // namespace
// Stop() on a server that stopped answering: the renewal in flight is
// cancelled, so Stop() takes at most the release's 2 s rather than the
// renewal's deadline (10 s by default) first. The server's connection is
// stalled by a proxy that keeps it open and forwards nothing.
TEST_F(LeaseKeeperTest, StopCancelsARenewalTheServerNeverAnswersS28) {
  const std::string upstream = address().substr(std::string("unix:").size());
  deviceapi::testing::FaultProxy proxy(upstream + ".proxy", upstream);
  ClientOptions co;
  co.target = "unix://" + upstream + ".proxy";
  Client via_proxy(co);
  LeaseClient leases(via_proxy);
  LeaseKeeperOptions o = Options("node-a");
  o.renew_period = milliseconds(100);
  LeaseKeeper keeper(leases, o);
  keeper.Start();
  ASSERT_TRUE(Eventually([&] { return keeper.Held(); }));
  proxy.StallOpen();
  proxy.StallNew();
  std::this_thread::sleep_for(milliseconds(400));  // a renewal is out, unanswered
  const auto before = steady_clock::now();
  keeper.Stop();
  const auto took = steady_clock::now() - before;
  EXPECT_LT(took, milliseconds(3000)) << "Stop() waited for the renewal's deadline";
  proxy.Heal();
}

}  // namespace deviceapi::apiserver::testing
