// The typed client against the real service on a Unix socket: each contract
// status code arrives as the matching Status predicate, options travel, and
// watches deliver what the semantics promise.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "deviceapi/client.h"
#include "deviceapi/conditions.h"
#include "deviceapi/lease.h"
#include "fault_proxy.h"
#include "gpu_fixtures.h"
#include "test_server.h"

namespace deviceapi::testing {
namespace {

using namespace std::chrono_literals;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(dir_.File("s.sock"), options_);
    server_->Start();
    client_ = std::make_unique<Client>(Opts(server_->target()));
  }
  TempDir dir_;
  store::StoreOptions options_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Client> client_;
};

// A server slow to answer a new connection (a loaded node, a flood of
// connections) is waited for until the call's deadline: the reconnect
// backoff's short first pause must not become the connection's timeout.
TEST(ClientConnect, ServerSlowToAnswerANewConnectionIsWaitedForUntilTheDeadline) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  FaultProxy proxy(dir.File("p.sock"), dir.File("s.sock"));
  proxy.StallNew();
  std::thread heal([&proxy] {
    std::this_thread::sleep_for(500ms);
    proxy.Heal();
  });
  ClientOptions options = Opts(proxy.target());
  options.default_timeout = 5s;
  Client client(options);
  StatusOr<GpuList> listed = client.List();
  heal.join();
  EXPECT_TRUE(listed.ok()) << listed.status().ToString();
}

// A CallCanceller ends a call in flight at once, not at its deadline, and
// fails every later call given it without sending it.
TEST(ClientConnect, CallCancellerEndsACallInFlightAndLaterOnes) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  FaultProxy proxy(dir.File("p.sock"), dir.File("s.sock"));
  proxy.StallNew();
  ClientOptions options = Opts(proxy.target());
  options.default_timeout = 20s;
  Client client(options);
  auto canceller = std::make_shared<CallCanceller>();
  ListOptions list;
  list.call.canceller = canceller;
  std::thread cancel([&canceller] {
    std::this_thread::sleep_for(300ms);
    canceller->Cancel();
  });
  const auto before = std::chrono::steady_clock::now();
  StatusOr<GpuList> listed = client.List(list);
  const auto took = std::chrono::steady_clock::now() - before;
  cancel.join();
  EXPECT_EQ(listed.status().code(), grpc::StatusCode::CANCELLED) << listed.status().ToString();
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(canceller->cancelled());

  Client direct(Opts(server.target()));
  GetOptions get;
  get.call.canceller = canceller;
  EXPECT_EQ(direct.Get("gpu-0", get).status().code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(direct.List().ok());
  proxy.Heal();
}

// S3
TEST_F(ClientTest, CreateGetListRoundTrip) {
  StatusOr<Gpu> created = client_->Create(MakeGpu("gpu-0", 0));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->metadata().namespace_(), "default");
  EXPECT_FALSE(created->metadata().uid().empty());
  EXPECT_EQ(created->metadata().generation(), 1);
  StatusOr<Gpu> got = client_->Get("gpu-0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->metadata().resource_version(), created->metadata().resource_version());
  StatusOr<GpuList> list = client_->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->items_size(), 1);
  EXPECT_FALSE(list->metadata().resource_version().empty());
}

// S19: a List larger than gRPC's default 4 MiB receive limit, as on a node
// with 1,024 GPUs of 32 conditions, arrives whole; a client whose limit is
// set below the response gets RESOURCE_EXHAUSTED.
TEST_F(ClientTest, ListLargerThanGrpcsDefaultReceiveLimitArrivesS19) {
  constexpr int kGpus = 48;
  for (int i = 0; i < kGpus; ++i) {
    Gpu gpu = MakeGpu("gpu-" + std::to_string(i), i);
    for (int c = 0; c < 32; ++c) {
      auto* condition = gpu.mutable_status()->add_conditions();
      condition->set_type("Check" + std::to_string(c));
      condition->set_status("True");
      condition->set_reason("Healthy");
      condition->set_message(std::string(3000, 'm'));
    }
    ASSERT_TRUE(client_->Create(gpu).ok()) << i;
  }
  StatusOr<GpuList> list = client_->List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->items_size(), kGpus);
  EXPECT_GT(list->ByteSizeLong(), std::size_t{4} << 20);
  ClientOptions small = Opts(server_->target());
  small.max_receive_message_bytes = 1 << 20;
  Client limited(small);
  StatusOr<GpuList> refused = limited.List();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.status().ToString();
}

TEST_F(ClientTest, StatusPredicatesMatchTheContract) {
  EXPECT_TRUE(client_->Get("missing").status().IsNotFound());
  EXPECT_TRUE(client_->Delete("missing").IsNotFound());
  ASSERT_TRUE(client_->Create(MakeGpu("gpu-0", 0)).ok());
  EXPECT_TRUE(client_->Create(MakeGpu("gpu-0", 0)).status().IsAlreadyExists());
  Gpu bad = MakeGpu("gpu-1", 1);
  bad.mutable_spec()->set_uuid("not-a-uuid");
  Status invalid = client_->Create(bad).status();
  EXPECT_TRUE(invalid.IsInvalid()) << invalid.ToString();
  EXPECT_FALSE(invalid.message().empty());  // the server's message, verbatim
}

// S31: patches through the SDK: two writers' conditions both survive
// without reads or retries; preconditions and bad documents map to the
// Status predicates, and a refused patch changes nothing.
TEST_F(ClientTest, PatchAndPatchStatusS31) {
  ASSERT_TRUE(client_->Create(MakeGpu("gpu-0", 0)).ok());
  StatusOr<Gpu> labelled =
      client_->Patch("gpu-0", PatchType::kMerge, R"({"metadata":{"labels":{"zone":"a"}}})");
  ASSERT_TRUE(labelled.ok()) << labelled.status().ToString();
  EXPECT_EQ(labelled->metadata().labels().at("zone"), "a");

  for (const char* type : {"example.com/Thermal", "example.com/Ecc"}) {
    const std::string doc = std::string(R"({"status":{"conditions":[{"type":")") + type +
                            R"(","status":"False","reason":"Probe","message":"checked"}]}})";
    StatusOr<Gpu> patched = client_->PatchStatus("gpu-0", PatchType::kStrategicMerge, doc);
    ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  }
  StatusOr<Gpu> got = client_->Get("gpu-0");
  ASSERT_TRUE(got.ok());
  EXPECT_NE(FindCondition(got->status(), "example.com/Thermal"), nullptr);
  EXPECT_NE(FindCondition(got->status(), "example.com/Ecc"), nullptr);
  const std::string version = got->metadata().resource_version();

  EXPECT_TRUE(client_->PatchStatus("gpu-0", PatchType::kMerge,
                                   R"({"metadata":{"resourceVersion":"1"},"status":{"recommendedAction":"RESET_GPU"}})")
                  .status()
                  .IsConflict());
  EXPECT_TRUE(client_->Patch("gpu-0", PatchType::kMerge, R"({"status":{"recommendedAction":"RESET_GPU"}})")
                  .status()
                  .IsInvalid());
  EXPECT_TRUE(client_->Patch("gpu-0", PatchType::kMerge, "{not json").status().IsInvalid());
  EXPECT_TRUE(client_->PatchStatus("missing", PatchType::kMerge, R"({"status":{}})").status().IsNotFound());
  EXPECT_EQ(client_->Get("gpu-0")->metadata().resource_version(), version);
}

// S5
TEST_F(ClientTest, StaleResourceVersionIsConflict) {
  StatusOr<Gpu> g = client_->Create(MakeGpu("gpu-0", 0));
  ASSERT_TRUE(g.ok());
  Gpu stale = *g;
  SetCondition(g->mutable_status(), MakeCondition("Ready", kConditionTrue, "Fine"));
  ASSERT_TRUE(client_->UpdateStatus(*g).ok());
  SetCondition(stale.mutable_status(), MakeCondition("Ready", kConditionFalse, "Broken"));
  EXPECT_TRUE(client_->UpdateStatus(stale).status().IsConflict());
  stale.mutable_metadata()->mutable_labels()->insert({"zone", "a"});
  EXPECT_TRUE(client_->Update(stale).status().IsConflict());
}

// S5: delete preconditions.
TEST_F(ClientTest, DeletePreconditions) {
  StatusOr<Gpu> g = client_->Create(MakeGpu("gpu-0", 0));
  ASSERT_TRUE(g.ok());
  DeleteOptions wrong;
  wrong.precondition_uid = "00000000-0000-0000-0000-000000000000";
  EXPECT_TRUE(client_->Delete("gpu-0", wrong).IsConflict());
  DeleteOptions right;
  right.precondition_uid = g->metadata().uid();
  right.precondition_resource_version = g->metadata().resource_version();
  EXPECT_TRUE(client_->Delete("gpu-0", right).ok());
}

// S9: a future revision waits, then OUT_OF_RANGE; a short deadline wins.
TEST_F(ClientTest, DeadlinesApply) {
  GetOptions o;
  o.resource_version = "999999999999999999";
  o.call.timeout = 200ms;
  ASSERT_TRUE(client_->Create(MakeGpu("gpu-0", 0)).ok());
  auto start = std::chrono::steady_clock::now();
  Status s = client_->Get("gpu-0", o).status();
  EXPECT_TRUE(s.IsDeadlineExceeded() || s.IsExpired()) << s.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(ClientNoServer, UnreachableIsUnavailable) {
  TempDir dir;
  ClientOptions o = Opts("unix://" + dir.File("none.sock"));
  o.default_timeout = 2s;
  Client client(o);
  EXPECT_TRUE(client.List().status().IsUnavailable());
  EXPECT_TRUE(client.CheckHealth().IsUnavailable());
}

TEST(ClientTarget, ResolvesFlagThenEnvThenDefault) {
  ::setenv(kServerEnvVar, "unix:///tmp/from-env.sock", 1);
  EXPECT_EQ(ResolveTarget("unix:///x.sock"), "unix:///x.sock");
  EXPECT_EQ(ResolveTarget(""), "unix:///tmp/from-env.sock");
  ::unsetenv(kServerEnvVar);
  EXPECT_EQ(ResolveTarget(""), kDefaultServerTarget);
}

TEST(ClientTls, UnreadableFilesFailEveryCallClearly) {
  ClientOptions o;
  o.target = "localhost:1";
  o.tls.enabled = true;
  o.tls.ca_file = "/nonexistent/ca.pem";
  Client client(o);
  Status s = client.List().status();
  EXPECT_TRUE(s.IsInvalid());
  auto w = client.Watch();
  WatchEvent ev;
  EXPECT_FALSE(w->Next(&ev));
  EXPECT_TRUE(w->Finish().IsInvalid());
}

// Options shared with a TCP client reach the node's socket in plaintext:
// the socket has no TLS, and a handshake there failed every call.
TEST(ClientTls, NotAppliedToUnixSockets) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  ClientOptions o = Opts(server.target());
  o.tls.enabled = true;
  o.tls.ca_file = "/nonexistent/ca.pem";
  Client client(o);
  StatusOr<GpuList> listed = client.List();
  EXPECT_TRUE(listed.ok()) << listed.status().ToString();
}

// LeaseClient shares the Client's channel, so it fails the same way, not
// with the UNAVAILABLE of a channel that never connects.
TEST(ClientTls, LeaseClientReportsTheClientsConfigurationError) {
  ClientOptions o;
  o.target = "localhost:1";
  o.tls.enabled = true;
  o.tls.ca_file = "/nonexistent/ca.pem";
  Client client(o);
  const Status want = client.Get("gpu-0").status();
  ASSERT_TRUE(want.IsInvalid()) << want.ToString();
  LeaseClient leases(client, 200ms);
  Lease lease;
  lease.mutable_metadata()->set_name("l");
  for (const Status& s : {leases.Get("l").status(), leases.List().status(),
                          leases.Create(lease).status(), leases.Update(lease).status(),
                          leases.Delete("l")}) {
    EXPECT_EQ(s.code(), want.code()) << s.ToString();
    EXPECT_EQ(s.message(), want.message());
  }
  LeaseKeeperOptions ko;
  ko.name = "l";
  ko.holder = "me";
  LeaseKeeper keeper(leases, ko);
  EXPECT_TRUE(keeper.RenewOnce().IsInvalid());
}

TEST_F(ClientTest, HealthIsServing) { EXPECT_TRUE(client_->CheckHealth().ok()); }

// S12, S7: watch from a list's revision sees every later change exactly
// once; DELETED carries the deletion's revision.
TEST_F(ClientTest, WatchFromListRevision) {
  ASSERT_TRUE(client_->Create(MakeGpu("gpu-0", 0)).ok());
  StatusOr<GpuList> list = client_->List();
  ASSERT_TRUE(list.ok());
  WatchOptions wo;
  wo.resource_version = list->metadata().resource_version();
  auto stream = client_->Watch(wo);
  StatusOr<Gpu> c1 = client_->Create(MakeGpu("gpu-1", 1));
  ASSERT_TRUE(c1.ok());
  ASSERT_TRUE(client_->Delete("gpu-0").ok());
  WatchEvent ev;
  ASSERT_TRUE(stream->Next(&ev));
  EXPECT_EQ(ev.type, EventType::kAdded);
  EXPECT_EQ(ev.object.metadata().name(), "gpu-1");
  EXPECT_EQ(ev.resource_version(), c1->metadata().resource_version());
  ASSERT_TRUE(stream->Next(&ev));
  EXPECT_EQ(ev.type, EventType::kDeleted);
  EXPECT_EQ(ev.object.metadata().name(), "gpu-0");
  EXPECT_GT(std::stoull(ev.resource_version()), std::stoull(c1->metadata().resource_version()));
  stream->Cancel();
  EXPECT_FALSE(stream->Next(&ev));
  EXPECT_TRUE(stream->Finish().ok());
}

// S15: initial events end with the annotated bookmark.
TEST_F(ClientTest, WatchInitialEventsEndWithBookmark) {
  ASSERT_TRUE(client_->Create(MakeGpu("gpu-0", 0)).ok());
  WatchOptions wo;
  wo.send_initial_events = true;
  wo.allow_watch_bookmarks = true;
  wo.timeout_seconds = 1;
  auto stream = client_->Watch(wo);
  WatchEvent ev;
  ASSERT_TRUE(stream->Next(&ev));
  EXPECT_EQ(ev.type, EventType::kAdded);
  ASSERT_TRUE(stream->Next(&ev));
  EXPECT_EQ(ev.type, EventType::kBookmark);
  EXPECT_TRUE(ev.initial_events_end());
  // S18: timeout_seconds ends the stream cleanly.
  while (stream->Next(&ev)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

// S14: a watch from a revision older than the history is Expired.
TEST(ClientHistory, WatchFromTooOldRevisionIsExpired) {
  TempDir dir;
  store::StoreOptions so;
  so.history_max_events = 2;
  TestServer server(dir.File("s.sock"), so);
  server.Start();
  Client client(Opts(server.target()));
  StatusOr<Gpu> first = client.Create(MakeGpu("gpu-0", 0));
  ASSERT_TRUE(first.ok());
  for (int i = 1; i < 5; ++i) ASSERT_TRUE(client.Create(MakeGpu("gpu-" + std::to_string(i), i)).ok());
  WatchOptions wo;
  wo.resource_version = first->metadata().resource_version();
  auto stream = client.Watch(wo);
  WatchEvent ev;
  EXPECT_FALSE(stream->Next(&ev));
  Status s = stream->Finish();
  EXPECT_TRUE(s.IsExpired()) << s.ToString();
}

// S21 as seen through the SDK: a stopped server mid-watch is Unavailable.
TEST_F(ClientTest, ServerShutdownEndsWatchUnavailable) {
  auto stream = client_->Watch();
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    server_->Stop();
  });
  WatchEvent ev;
  while (stream->Next(&ev)) {
  }
  Status s = stream->Finish();
  stopper.join();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
}

}  // namespace
}  // namespace deviceapi::testing
