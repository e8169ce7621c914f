// FakeClient has the server's semantics (it is the server, in-process), and
// the informer and lister work on it as on a socket.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "deviceapi/conditions.h"
#include "deviceapi/fake_client.h"
#include "deviceapi/informer.h"
#include "deviceapi/retry.h"
#include "eventually.h"

namespace deviceapi {
namespace {

using namespace std::chrono_literals;

Gpu MakeGpu(const std::string& name, int i, const std::string& ns = "",
            std::map<std::string, std::string> labels = {}) {
  Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_(ns);
  for (auto& [k, v] : labels) (*g.mutable_metadata()->mutable_labels())[k] = v;
  char uuid[64];
  std::snprintf(uuid, sizeof(uuid), "GPU-%08x-0000-4000-8000-%012x", i, i);
  g.mutable_spec()->set_uuid(uuid);
  return g;
}

using deviceapi::testing::Eventually;

// S1, S3, S5
TEST(FakeClient, SameSemanticsAsTheServer) {
  FakeClient client;
  StatusOr<Gpu> a = client.Create(MakeGpu("gpu-0", 0));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->metadata().namespace_(), "default");
  EXPECT_EQ(a->metadata().generation(), 1);
  EXPECT_TRUE(client.Create(MakeGpu("gpu-0", 0)).status().IsAlreadyExists());
  Gpu stale = *a;
  SetCondition(a->mutable_status(), MakeCondition("Ready", kConditionTrue, "Fine"));
  StatusOr<Gpu> b = client.UpdateStatus(*a);
  ASSERT_TRUE(b.ok());
  EXPECT_GT(std::stoull(b->metadata().resource_version()),
            std::stoull(a->metadata().resource_version()));
  EXPECT_TRUE(client.UpdateStatus(stale).status().IsConflict());
  // S1: a no-op takes no revision.
  StatusOr<Gpu> c = client.UpdateStatus(*b);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->metadata().resource_version(), b->metadata().resource_version());
  Gpu bad = MakeGpu("gpu-1", 1);
  bad.mutable_spec()->set_uuid("nope");
  EXPECT_TRUE(client.Create(bad).status().IsInvalid());
  EXPECT_TRUE(client.Get("nope").status().IsNotFound());
  EXPECT_TRUE(client.Delete("gpu-0").ok());
  EXPECT_TRUE(client.Get("gpu-0").status().IsNotFound());
}

TEST(FakeClient, IndependentInstances) {
  FakeClient a, b;
  ASSERT_TRUE(a.Create(MakeGpu("gpu-0", 0)).ok());
  EXPECT_TRUE(b.Get("gpu-0").status().IsNotFound());
}

// Handlers see every object once as added, then each change in order; the
// lister filters by namespace and selector.
TEST(Informer, HandlersAndListerOnFakeClient) {
  FakeClient client;
  ASSERT_TRUE(client.Create(MakeGpu("gpu-0", 0, "", {{"zone", "a"}})).ok());
  ASSERT_TRUE(client.Create(MakeGpu("gpu-1", 1, "other", {{"zone", "b"}})).ok());

  std::mutex mu;
  std::vector<std::string> log;
  Informer informer(client);
  informer.AddEventHandlers({
      .on_add = [&](const GpuPtr& g) {
        std::lock_guard l(mu);
        log.push_back("add " + g->metadata().name());
      },
      .on_update = [&](const GpuPtr& o, const GpuPtr& n) {
        std::lock_guard l(mu);
        log.push_back("update " + n->metadata().name() + " " +
                      (IsConditionTrue(n->status(), "Ready") ? "ready" : "not-ready") +
                      (o->metadata().resource_version() < n->metadata().resource_version() ? ""
                                                                                            : " BAD"));
      },
      .on_delete = [&](const GpuPtr& g) {
        std::lock_guard l(mu);
        log.push_back("delete " + g->metadata().name());
      },
  });
  EXPECT_FALSE(informer.HasSynced());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  EXPECT_TRUE(informer.HasSynced());
  {
    std::lock_guard l(mu);
    EXPECT_EQ(log, (std::vector<std::string>{"add gpu-0", "add gpu-1"}));
  }

  ASSERT_TRUE(UpdateStatusWithRetry(client, "gpu-0", [](GpuStatus* s) {
                return SetCondition(s, MakeCondition("Ready", kConditionTrue, "Fine"));
              }).ok());
  DeleteOptions other;
  other.namespace_name = "other";
  ASSERT_TRUE(client.Delete("gpu-1", other).ok());
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard l(mu);
    return log.size() == 4;
  }));
  {
    std::lock_guard l(mu);
    EXPECT_EQ(log[2], "update gpu-0 ready");
    EXPECT_EQ(log[3], "delete gpu-1");
  }
  ASSERT_TRUE(client.Create(MakeGpu("gpu-2", 2, "", {{"zone", "b"}})).ok());
  ASSERT_TRUE(Eventually([&] { return informer.lister().Size() == 2; }));
  auto sel = LabelSelector::Parse("zone=b");
  ASSERT_TRUE(sel.ok());
  auto b = informer.lister().List(*sel);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]->metadata().name(), "gpu-2");
  EXPECT_EQ(informer.lister().List({}, "other").size(), 0u);
  EXPECT_EQ(informer.lister().List({}, "default").size(), 2u);
  ASSERT_NE(informer.lister().Get("gpu-0"), nullptr);
  EXPECT_TRUE(IsConditionTrue(informer.lister().Get("gpu-0")->status(), "Ready"));
  EXPECT_EQ(informer.lister().Get("gpu-1", "other"), nullptr);
  informer.Stop();
  informer.Stop();  // idempotent
}

TEST(Informer, NamespaceAndSelectorScopeTheCache) {
  FakeClient client;
  ASSERT_TRUE(client.Create(MakeGpu("a", 0, "ns", {{"zone", "a"}})).ok());
  ASSERT_TRUE(client.Create(MakeGpu("b", 1, "ns", {{"zone", "b"}})).ok());
  ASSERT_TRUE(client.Create(MakeGpu("c", 2, "nsx", {{"zone", "a"}})).ok());  // S17
  InformerOptions o;
  o.namespace_name = "ns";
  o.label_selector = "zone=a";
  Informer informer(client, o);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  EXPECT_EQ(informer.lister().Size(), 1u);
  EXPECT_NE(informer.lister().Get("a", "ns"), nullptr);
}

TEST(Informer, ResyncRedeliversCachedObjects) {
  FakeClient client;
  ASSERT_TRUE(client.Create(MakeGpu("gpu-0", 0)).ok());
  std::atomic<int> resyncs{0};
  InformerOptions o;
  o.resync_period = 50ms;
  Informer informer(client, o);
  EventHandlers h;
  h.on_update = [&](const GpuPtr& a, const GpuPtr& b) {
    if (a == b) ++resyncs;
  };
  informer.AddEventHandlers(h);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  EXPECT_TRUE(Eventually([&] { return resyncs.load() >= 2; }));
}

TEST(Informer, WaitForSyncTimesOutWhenServerUnreachable) {
  ClientOptions co;
  co.target = "unix:///nonexistent/dir/s.sock";
  Client client(co);
  Informer informer(client);
  informer.Start();
  EXPECT_FALSE(informer.WaitForSync(200ms));
  EXPECT_FALSE(informer.HasSynced());
  EXPECT_GE(informer.Stats().errors, 1u);
  informer.Stop();  // returns promptly although the reflector is backing off
}

TEST(Informer, StopWithoutStartAndDestroyWhileWatching) {
  FakeClient client;
  { Informer never_started(client); never_started.Stop(); }
  {
    Informer informer(client);
    informer.Start();
    ASSERT_TRUE(informer.WaitForSync(5s));
  }  // destructor stops an open watch
}

}  // namespace
}  // namespace deviceapi
