// Informer convergence under faults, against the real service on a Unix
// socket: connections cut mid-watch, the server evicting the informer as a
// too-slow watcher, the server restarting; writes continue throughout. At the
// end the cache equals the server's List and the handlers saw every version
// of every object in order, with no duplicates.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "deviceapi/informer.h"
#include "eventually.h"
#include "fault_proxy.h"
#include "informer_harness.h"
#include "test_server.h"

namespace deviceapi::testing {
namespace {

using namespace std::chrono_literals;

// The restarted server takes a moment to accept connections again.
bool CreateEventually(Client& client, const Gpu& gpu) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (client.Create(gpu).ok()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

InformerOptions FastOptions() {
  InformerOptions o;
  o.backoff.initial = 10ms;
  o.backoff.max = 200ms;
  return o;
}

// S12, S16 (re-watch from the last revision after a disconnect loses nothing).
TEST(InformerFaults, ConnectionsCutMidWatchLoseNothing) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  FaultProxy proxy(dir.File("p.sock"), dir.File("s.sock"));
  Client direct(Opts(server.target()));
  Client via_proxy(Opts(proxy.target()));

  Writers writers(direct, 12, 2);
  Recorder recorder;
  Informer informer(via_proxy, FastOptions());
  informer.AddEventHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(250ms);
    proxy.CutAll();
  }
  std::this_thread::sleep_for(200ms);
  writers.Stop();
  ExpectConverged(direct, informer, recorder);
  EXPECT_TRUE(recorder.Problems().empty()) << recorder.Problems().front();
  InformerStats stats = informer.Stats();
  std::cout << "[figures] cuts " << proxy.cuts() << ", writes " << writers.writes()
            << ", watches " << stats.watches << ", deliveries " << recorder.Deliveries() << "\n";
  EXPECT_EQ(stats.lists, 1u) << "a cut must be resumed by re-watching, not relisting";
  EXPECT_GE(stats.watches, 5u);
  EXPECT_GT(writers.writes(), 100u);
  ExpectNoGaps(writers, recorder);
  informer.Stop();
}

// Writes `rounds` status changes to each of gpu-0 .. gpu-(n-1).
void WriteRounds(Client& client, int n, int rounds) {
  for (int r = 0; r < rounds; ++r)
    for (int i = 0; i < n; ++i) {
      Gpu g = MakeGpu(Writers::Name(i), i);
      SetCondition(g.mutable_status(),
                   MakeCondition("Ready", kConditionTrue, "Counting", "round " + std::to_string(r)));
      ASSERT_TRUE(client.UpdateStatus(g).ok());
    }
}

// S12: a connection that stops forwarding without closing (a hung peer or
// middlebox) must not leave the informer's cache stale while HasSynced()
// stays true. Keepalive pings go unanswered, the client closes the
// connection within keepalive_time + keepalive_timeout, and the informer
// re-watches from its last revision over a new connection: it catches up
// with what was written meanwhile and does not relist.
TEST(InformerFaults, StalledConnectionIsClosedByKeepaliveAndTheWatchResumed) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.PermitPingsEvery(100ms);
  server.Start();
  FaultProxy proxy(dir.File("p.sock"), dir.File("s.sock"));
  Client direct(Opts(server.target()));
  ClientOptions co = Opts(proxy.target());
  co.keepalive_time = 300ms;
  co.keepalive_timeout = 300ms;
  Client via_proxy(co);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(direct.Create(MakeGpu(Writers::Name(i), i)).ok());

  Recorder recorder;
  InformerOptions o = FastOptions();
  o.watch_idle_timeout = 0ms;  // keepalive alone
  Informer informer(via_proxy, o);
  informer.AddEventHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  ASSERT_TRUE(Eventually([&] { return informer.Stats().watches >= 1; }, 5s));
  // Several keepalive rounds on a healthy connection cost nothing.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(informer.Stats().watches, 1u);
  EXPECT_EQ(proxy.accepted(), 1);

  proxy.StallOpen();
  const auto stalled = std::chrono::steady_clock::now();
  WriteRounds(direct, 4, 3);
  ExpectConverged(direct, informer, recorder, 10s);
  const auto caught_up = std::chrono::steady_clock::now() - stalled;
  EXPECT_TRUE(informer.HasSynced());
  EXPECT_LT(caught_up, 4s) << "ping 300 ms + answer 300 ms + reconnect";
  EXPECT_TRUE(recorder.Problems().empty()) << recorder.Problems().front();
  InformerStats stats = informer.Stats();
  EXPECT_EQ(stats.lists, 1u) << "the revision is retained: resume, do not relist";
  EXPECT_GE(stats.watches, 2u);
  EXPECT_GE(proxy.accepted(), 2) << "the stalled connection was replaced";
  for (int i = 0; i < 4; ++i) EXPECT_EQ(recorder.Versions(Writers::Name(i)).size(), 4u);
  informer.Stop();
}

// S12, S15: a watch stream that goes silent although its connection still
// counts as alive (keepalive off here; in the field: a middlebox that
// answers pings itself). The informer asks for bookmarks, so after
// watch_idle_timeout without any message it cancels the stream and
// re-watches from its last revision; once the path delivers again it
// catches up without relisting. A healthy idle watch is kept alive by the
// bookmarks and never times out.
TEST(InformerFaults, SilentWatchIsResumedAfterTheIdleTimeout) {
  TempDir dir;
  store::StoreOptions so;
  so.bookmark_interval = 50ms;
  TestServer server(dir.File("s.sock"), so);
  server.Start();
  FaultProxy proxy(dir.File("p.sock"), dir.File("s.sock"));
  Client direct(Opts(server.target()));
  ClientOptions co = Opts(proxy.target());
  co.keepalive_time = 0ms;  // the idle timeout alone
  Client via_proxy(co);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(direct.Create(MakeGpu(Writers::Name(i), i)).ok());

  Recorder recorder;
  InformerOptions o = FastOptions();
  o.watch_idle_timeout = 1s;
  Informer informer(via_proxy, o);
  informer.AddEventHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  std::this_thread::sleep_for(2500ms);  // idle, but bookmarks arrive
  InformerStats idle = informer.Stats();
  EXPECT_GE(idle.bookmarks, 10u);
  EXPECT_EQ(idle.idle_timeouts, 0u);
  EXPECT_EQ(idle.watches, 1u);

  proxy.StallOpen();
  const auto stalled = std::chrono::steady_clock::now();
  WriteRounds(direct, 4, 3);
  ASSERT_TRUE(Eventually([&] { return informer.Stats().watches >= 2; }, 5s))
      << "a watch silent for longer than watch_idle_timeout was not replaced";
  EXPECT_LT(std::chrono::steady_clock::now() - stalled, 3s);
  EXPECT_GE(informer.Stats().idle_timeouts, 1u);
  EXPECT_EQ(informer.lister().Get(Writers::Name(0))->status().conditions_size(), 0)
      << "nothing arrived while stalled";

  proxy.Heal();
  ExpectConverged(direct, informer, recorder, 10s);
  EXPECT_TRUE(recorder.Problems().empty()) << recorder.Problems().front();
  InformerStats stats = informer.Stats();
  EXPECT_EQ(stats.lists, 1u) << "the revision is retained: resume, do not relist";
  EXPECT_EQ(proxy.accepted(), 1) << "resumed on the same, healed connection";
  for (int i = 0; i < 4; ++i) EXPECT_EQ(recorder.Versions(Writers::Name(i)).size(), 4u);
  informer.Stop();
}

// S16: the server ends a too-slow watcher with RESOURCE_EXHAUSTED; the
// informer re-watches from its last revision and loses nothing.
TEST(InformerFaults, EvictedAsTooSlowResumesWithoutGaps) {
  TempDir dir;
  store::StoreOptions so;
  so.watcher_queue_capacity = 2;
  TestServer server(dir.File("s.sock"), so);
  server.Start();
  Client direct(Opts(server.target()));
  Client informer_client(Opts(server.target()));

  Writers writers(direct, 16, 4, /*recreate_every=*/25);
  Recorder recorder;
  Informer informer(informer_client, FastOptions());
  informer.AddEventHandlers(recorder.Handlers());
  // A slow consumer too: handlers lag behind while the watch keeps reading.
  EventHandlers slow;
  slow.on_update = [](const GpuPtr&, const GpuPtr&) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  };
  informer.AddEventHandlers(slow);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server.service().Stats().watch_streams_too_slow < 3 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  writers.Stop();
  EXPECT_GE(server.service().Stats().watch_streams_too_slow, 3u) << "the fault never happened";
  ExpectConverged(direct, informer, recorder);
  EXPECT_TRUE(recorder.Problems().empty()) << recorder.Problems().front();
  std::cout << "[figures] evictions " << server.service().Stats().watch_streams_too_slow
            << ", writes " << writers.writes() << ", watches " << informer.Stats().watches
            << ", deliveries " << recorder.Deliveries() << "\n";
  EXPECT_EQ(informer.Stats().lists, 1u) << "eviction must be resumed by re-watching";
  ExpectNoGaps(writers, recorder);
  informer.Stop();
}

// S2, S18, S22: the server restarts (keeping its objects, as a durable
// backend would) while writes go on; the informer reconnects and converges.
// Its old revision predates the new process's history, so it relists (S14)
// and reconciles without duplicates.
TEST(InformerFaults, ServerRestartMidWatchConverges) {
  TempDir dir;
  store::StoreOptions so;
  so.backend = std::make_shared<KeepingBackend>();
  TestServer server(dir.File("s.sock"), so);
  server.Start();
  Client direct(Opts(server.target()));
  Client informer_client(Opts(server.target()));

  Writers writers(direct, 10, 2);
  Recorder recorder;
  Informer informer(informer_client, FastOptions());
  informer.AddEventHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  for (int i = 0; i < 2; ++i) {
    std::this_thread::sleep_for(300ms);
    server.Restart();
  }
  std::this_thread::sleep_for(300ms);
  writers.Stop();
  ExpectConverged(direct, informer, recorder);
  EXPECT_TRUE(recorder.Problems().empty()) << recorder.Problems().front();
  EXPECT_GE(informer.Stats().lists, 2u);
  std::cout << "[figures] restarts 2, writes " << writers.writes() << ", lists "
            << informer.Stats().lists << ", watches " << informer.Stats().watches
            << ", deliveries " << recorder.Deliveries() << "\n";
  informer.Stop();
}

// S2, S14: after a restart with an empty in-memory store the informer's
// revision is unknown to the server (OUT_OF_RANGE): it relists and reports
// the objects that vanished as deleted and the new ones as added.
TEST(InformerFaults, RelistAfterExpiryReconcilesDeletes) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  Client client(Opts(server.target()));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.Create(MakeGpu("old-" + std::to_string(i), i)).ok());
  Recorder recorder;
  Informer informer(client, FastOptions());
  informer.AddEventHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  EXPECT_EQ(informer.lister().Size(), 3u);

  server.Restart();
  ASSERT_TRUE(CreateEventually(client, MakeGpu("new-0", 7)));
  ExpectConverged(client, informer, recorder);
  auto last = recorder.Last();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(last["old-" + std::to_string(i)].first, 'D');
  EXPECT_EQ(last["new-0"].first, 'A');
  EXPECT_EQ(informer.lister().Size(), 1u);
  EXPECT_GE(informer.Stats().lists, 2u);
  EXPECT_TRUE(recorder.Problems().empty()) << recorder.Problems().front();
}

// Creates `name` and sets its Ready condition to `status`; waits for a
// restarted server.
bool CreateWithReady(Client& client, const std::string& name, int index, const char* status) {
  Gpu gpu = MakeGpu(name, index);
  if (!CreateEventually(client, gpu)) return false;
  SetCondition(gpu.mutable_status(), MakeCondition("Ready", status, "Probe"));
  return client.UpdateStatus(gpu).ok();
}

// S10, S14: Stats().last_resource_version moves only once the cache holds
// the state of that revision, so a consumer that trusts the cache when it
// has reached the server's revision never reads an older state. Here a
// relist after a restart turns many GPUs from Ready=True to False; a reader
// polling Stats() must not find one still True once the revision is there.
TEST(InformerFaults, RevisionIsPublishedOnlyOnceTheCacheHoldsItS10S14) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  Client client(Opts(server.target()));
  constexpr int kGpus = 512;
  for (int i = 0; i < kGpus; ++i) ASSERT_TRUE(CreateWithReady(client, Writers::Name(i), i, "True"));
  InformerOptions o = FastOptions();
  o.backoff.initial = 2s;  // the relist comes after every write below
  o.backoff.max = 2s;
  o.backoff.jitter = 0;
  Informer informer(client, o);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(10s));

  server.Restart();  // empty store: the informer's revision is gone, it relists
  for (int i = 0; i < kGpus; ++i) ASSERT_TRUE(CreateWithReady(client, Writers::Name(i), i, "False"));
  StatusOr<GpuList> list = client.List();
  ASSERT_TRUE(list.ok());
  const std::string server_rv = list->metadata().resource_version();
  // Another consumer reading the cache all along with a costly selector,
  // as a busy plugin may: the relist's writes to the cache wait for it.
  std::string costly;
  for (int i = 0; i < 200; ++i) costly += (i ? ",k" : "k") + std::to_string(i) + "!=v";
  StatusOr<LabelSelector> selector = LabelSelector::Parse(costly);
  ASSERT_TRUE(selector.ok());
  std::atomic<bool> done{false};
  std::thread busy([&] {
    while (!done) (void)informer.lister().List(*selector);
  });
  int stale = -1;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (stale < 0 && std::chrono::steady_clock::now() < deadline) {
    if (informer.Stats().last_resource_version != server_rv) continue;
    stale = 0;
    for (const GpuPtr& g : informer.lister().List())
      if (IsConditionTrue(g->status(), "Ready")) ++stale;
  }
  done = true;
  busy.join();
  ASSERT_GE(stale, 0) << "the informer never reached revision " << server_rv;
  EXPECT_EQ(stale, 0) << "GPUs still Ready=True in the cache at the server's revision";
  EXPECT_EQ(informer.lister().Size(), static_cast<std::size_t>(kGpus));
  EXPECT_GE(informer.Stats().lists, 2u);
}

// S3, S14: a GPU deleted and created again under the same name while the
// informer was away is another object (another uid). The relist delivers
// the old one's delete, then the new one's add, never an update from one to
// the other.
TEST(InformerFaults, RelistDeliversARecreatedGpuAsDeleteThenAddS3S14) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  Client client(Opts(server.target()));
  StatusOr<Gpu> first = client.Create(MakeGpu("gpu-a", 1));
  ASSERT_TRUE(first.ok());
  std::mutex mu;
  std::vector<std::string> seen;  // "A uid", "U old-uid new-uid", "D uid"
  EventHandlers h;
  h.on_add = [&](const GpuPtr& g) {
    std::lock_guard lock(mu);
    seen.push_back("A " + g->metadata().uid());
  };
  h.on_update = [&](const GpuPtr& old_obj, const GpuPtr& g) {
    std::lock_guard lock(mu);
    seen.push_back("U " + old_obj->metadata().uid() + " " + g->metadata().uid());
  };
  h.on_delete = [&](const GpuPtr& g) {
    std::lock_guard lock(mu);
    seen.push_back("D " + g->metadata().uid());
  };
  Recorder recorder;
  Informer informer(client, FastOptions());
  informer.AddEventHandlers(h);
  informer.AddEventHandlers(recorder.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));

  server.Restart();  // empty store: gpu-a is gone, then created anew
  ASSERT_TRUE(CreateEventually(client, MakeGpu("gpu-a", 1)));
  StatusOr<Gpu> second = client.Get("gpu-a");
  ASSERT_TRUE(second.ok());
  ASSERT_NE(second->metadata().uid(), first->metadata().uid());
  ExpectConverged(client, informer, recorder);
  EXPECT_GE(informer.Stats().lists, 2u);
  std::lock_guard lock(mu);
  const std::vector<std::string> want = {"A " + first->metadata().uid(),
                                         "D " + first->metadata().uid(),
                                         "A " + second->metadata().uid()};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(informer.lister().Get("gpu-a")->metadata().uid(), second->metadata().uid());
  EXPECT_TRUE(recorder.Problems().empty()) << recorder.Problems().front();
}

// S21, S22: what Stats() tells a consumer about freshness. While the watch
// is open it says watching. When the server goes away the cache keeps its
// last state and HasSynced() stays true, but watching turns false,
// last_contact stops moving and last_error says UNAVAILABLE; once the server
// is back and the informer watches again, both move on.
TEST(InformerFaults, StatsTellWhenTheCacheStopsFollowingTheServerS21S22) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  Client client(Opts(server.target()));
  ASSERT_TRUE(client.Create(MakeGpu("gpu-0", 0)).ok());
  const auto started = std::chrono::steady_clock::now();
  Informer informer(client, FastOptions());
  EXPECT_FALSE(informer.Stats().watching);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  ASSERT_TRUE(Eventually([&] { return informer.Stats().watching; }, 5s));
  InformerStats up = informer.Stats();
  EXPECT_GE(up.last_contact, started);
  EXPECT_TRUE(up.last_error.ok()) << up.last_error.ToString();

  server.Stop();
  ASSERT_TRUE(Eventually([&] { return !informer.Stats().watching; }, 5s));
  std::this_thread::sleep_for(500ms);  // several failed reconnects
  InformerStats down = informer.Stats();
  EXPECT_FALSE(down.watching);
  EXPECT_TRUE(informer.HasSynced()) << "the cache is kept, and still says synced";
  EXPECT_NE(informer.lister().Get("gpu-0"), nullptr);
  EXPECT_EQ(down.last_contact, up.last_contact) << "nothing answered since";
  EXPECT_EQ(down.last_error.code(), grpc::StatusCode::UNAVAILABLE) << down.last_error.ToString();
  EXPECT_GT(std::chrono::steady_clock::now() - down.last_contact, 400ms);

  server.Start();
  ASSERT_TRUE(Eventually([&] {
    InformerStats s = informer.Stats();
    return s.watching && s.lists >= 2 && s.last_contact > up.last_contact;
  }, 10s));
  informer.Stop();
  EXPECT_FALSE(informer.Stats().watching);
}

// A configuration no retry fixes (here a selector the server refuses) is
// retried with backoff like any failure, and Stats() says why nothing syncs.
TEST(InformerFaults, StatsSayWhyTheInformerDoesNotSync) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  Client client(Opts(server.target()));
  InformerOptions o = FastOptions();
  o.label_selector = "zone in (";
  Informer informer(client, o);
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return informer.Stats().errors >= 2; }, 5s));
  InformerStats s = informer.Stats();
  EXPECT_FALSE(informer.HasSynced());
  EXPECT_FALSE(s.watching);
  EXPECT_EQ(s.lists, 0u);
  EXPECT_EQ(s.last_contact, std::chrono::steady_clock::time_point{});
  EXPECT_EQ(s.last_error.code(), grpc::StatusCode::INVALID_ARGUMENT) << s.last_error.ToString();
  EXPECT_FALSE(s.last_error.message().empty());
}

// Stop() ends a List in flight: against a server that accepts the
// connection but never answers, it returns at once instead of waiting for
// the call's deadline.
TEST(InformerFaults, StopCancelsAListTheServerNeverAnswers) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  FaultProxy proxy(dir.File("p.sock"), dir.File("s.sock"));
  proxy.StallNew();
  ClientOptions co = Opts(proxy.target());
  co.default_timeout = 20s;
  Client client(co);
  Informer informer(client, FastOptions());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return proxy.accepted() >= 1; }, 5s));
  std::this_thread::sleep_for(200ms);  // the List is waiting for an answer
  EXPECT_FALSE(informer.HasSynced());
  const auto before = std::chrono::steady_clock::now();
  informer.Stop();
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_LT(took, 2s) << "Stop() waited for the List's deadline";
  EXPECT_EQ(informer.Stats().lists, 0u);
  proxy.Heal();
}

// The same for a watch being opened: after its connection was cut, the
// informer watches again over a new connection that a stalled server
// accepted and never answers. Opening the stream waits for that connection
// (up to gRPC's 20 s connect timeout); Stop() ends the wait.
TEST(InformerFaults, StopCancelsAWatchBeingOpenedOnAStalledServer) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  FaultProxy proxy(dir.File("p.sock"), dir.File("s.sock"));
  Client client(Opts(proxy.target()));
  Informer informer(client, FastOptions());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  ASSERT_TRUE(Eventually([&] { return informer.Stats().watching; }, 5s));
  proxy.StallNew();
  proxy.CutAll();
  ASSERT_TRUE(Eventually([&] { return proxy.accepted() >= 2; }, 5s)) << "no new connection";
  std::this_thread::sleep_for(300ms);  // the new watch is waiting for its connection
  const auto before = std::chrono::steady_clock::now();
  informer.Stop();
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_LT(took, 2s) << "Stop() waited for the watch's connection";
  proxy.Heal();
}

}  // namespace
}  // namespace deviceapi::testing

namespace deviceapi::testing {
namespace {

// Sized for the largest nodes (S19: 1,024 GPUs): the informer syncs them and
// follows a burst of status writes promptly. Prints the figures.
TEST(InformerScale, SyncsAndFollowsTheLargestNode) {
  TempDir dir;
  TestServer server(dir.File("s.sock"));
  server.Start();
  Client client(Opts(server.target()));
  for (int i = 0; i < 1024; ++i) ASSERT_TRUE(client.Create(MakeGpu("gpu-" + std::to_string(i), i)).ok());
  std::atomic<int> updates{0};
  EventHandlers h;
  h.on_update = [&](const GpuPtr&, const GpuPtr&) { ++updates; };
  Informer informer(client);
  informer.AddEventHandlers(h);
  auto t0 = std::chrono::steady_clock::now();
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(10s));
  auto synced = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(informer.lister().Size(), 1024u);

  constexpr int kWrites = 2048;
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < kWrites; ++i) {
    Gpu g = MakeGpu("gpu-" + std::to_string(i % 1024), i % 1024);
    SetCondition(g.mutable_status(), MakeCondition("Ready", kConditionTrue, "Step", std::to_string(i)));
    ASSERT_TRUE(client.UpdateStatus(g).ok());
  }
  auto written = std::chrono::steady_clock::now() - t1;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (updates.load() < kWrites && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  auto followed = std::chrono::steady_clock::now() - t1;
  EXPECT_EQ(updates.load(), kWrites);
  using ms = std::chrono::milliseconds;
  std::cout << "[figures] sync of 1024 GPUs " << std::chrono::duration_cast<ms>(synced).count()
            << " ms; " << kWrites << " sequential status writes "
            << std::chrono::duration_cast<ms>(written).count() << " ms; all delivered after "
            << std::chrono::duration_cast<ms>(followed).count() << " ms\n";
  informer.Stop();
}

}  // namespace
}  // namespace deviceapi::testing
