// Watch streams over the wire: S7, S12, S13, S15, S16, S17, S18.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "apiserver/watch_reactor.h"
#include "base/logging.h"
#include "service_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

using grpc::StatusCode;

std::uint64_t Rv(const v1::Gpu& gpu) { return std::stoull(gpu.metadata().resource_version()); }

// One open watch stream.
struct Watch {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<v1::WatchGpusResponse>> reader;

  Watch(v1::GpuService::Stub& stub, const v1::WatchGpusRequest& req, int deadline_s = 20) {
    ctx.set_deadline(Deadline(deadline_s));
    reader = stub.WatchGpus(&ctx, req);
  }
  bool Next(v1::WatchGpusResponse* ev) { return reader->Read(ev); }
  // Reads the next event that is not a BOOKMARK.
  bool NextObject(v1::WatchGpusResponse* ev) {
    while (reader->Read(ev)) {
      if (ev->type() != "BOOKMARK") return true;
    }
    return false;
  }
  grpc::Status Finish() { return reader->Finish(); }
  grpc::Status Drain() {
    v1::WatchGpusResponse ev;
    while (reader->Read(&ev)) {
    }
    return reader->Finish();
  }
};

v1::WatchGpusRequest WatchFrom(const std::string& rv, const std::string& ns = "") {
  v1::WatchGpusRequest req;
  req.set_namespace_(ns);
  req.mutable_opts()->set_resource_version(rv);
  return req;
}

class WatchTest : public ServiceFixture, public ::testing::WithParamInterface<Storage> {
 protected:
  Storage storage() const override { return GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(Backends, WatchTest, AllStorages(), StorageName);

// S13: synthetic ADDED for every current object, then live events, none
// missing or repeated. S7: DELETED carries the deletion's revision.
TEST_P(WatchTest, InitialStateThenLiveS13S7) {
  v1::Gpu last;
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(Create(MakeGpu(i), &last).ok());
  Watch w(stub(), WatchFrom(""));
  std::set<std::string> names;
  v1::WatchGpusResponse ev;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(w.NextObject(&ev));
    EXPECT_EQ(ev.type(), "ADDED");
    EXPECT_LE(Rv(ev.object()), Rv(last));
    names.insert(ev.object().metadata().name());
  }
  EXPECT_EQ(names.size(), 3u);
  v1::Gpu created;
  ASSERT_TRUE(Create(MakeGpu(4), &created).ok());
  ASSERT_TRUE(w.NextObject(&ev));
  EXPECT_EQ(ev.type(), "ADDED");
  EXPECT_EQ(ev.object().metadata().name(), UuidFor(4));
  EXPECT_EQ(ev.object().metadata().resource_version(), created.metadata().resource_version());
  v1::Gpu modified = created;
  modified.mutable_status()->set_recommended_action("RESET_GPU");
  ASSERT_TRUE(UpdateStatus(modified, &modified).ok());
  ASSERT_TRUE(w.NextObject(&ev));
  EXPECT_EQ(ev.type(), "MODIFIED");
  EXPECT_EQ(ev.object().status().recommended_action(), "RESET_GPU");
  ASSERT_TRUE(Delete(UuidFor(4)).ok());
  ASSERT_TRUE(w.NextObject(&ev));
  EXPECT_EQ(ev.type(), "DELETED");
  // S7: last state, stamped with the deletion's revision.
  EXPECT_EQ(ev.object().status().recommended_action(), "RESET_GPU");
  EXPECT_EQ(Rv(ev.object()), store().CurrentRevision());
  EXPECT_GT(Rv(ev.object()), Rv(modified));
  w.ctx.TryCancel();
  EXPECT_EQ(w.Drain().error_code(), StatusCode::CANCELLED);
}

// S12: list, write, watch from the list's version: every later event once,
// in order.
TEST_P(WatchTest, WatchFromListVersionS12) {
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  v1::GpuList list;
  ASSERT_TRUE(List({}, &list).ok());
  // Writes that fall "between" the list and the watch.
  v1::Gpu gpu = list.items(0);
  for (int i = 0; i < 5; ++i) {
    gpu.mutable_status()->set_recommended_action("A" + std::to_string(i));
    gpu.mutable_metadata()->clear_resource_version();
    ASSERT_TRUE(UpdateStatus(gpu).ok());
  }
  ASSERT_TRUE(Create(MakeGpu(2)).ok());
  Watch w(stub(), WatchFrom(list.metadata().resource_version()));
  v1::WatchGpusResponse ev;
  std::uint64_t prev = std::stoull(list.metadata().resource_version());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(w.NextObject(&ev));
    EXPECT_EQ(ev.type(), "MODIFIED");
    EXPECT_EQ(ev.object().status().recommended_action(), "A" + std::to_string(i));
    EXPECT_EQ(Rv(ev.object()), prev + 1);  // contiguous: one store, nothing else writing
    prev = Rv(ev.object());
  }
  ASSERT_TRUE(w.NextObject(&ev));
  EXPECT_EQ(ev.type(), "ADDED");
  EXPECT_EQ(ev.object().metadata().name(), UuidFor(2));
  w.ctx.TryCancel();
  w.Drain();
}

// S12, S13: a watch that starts behind replays its backlog, every event
// once, in order, with nothing held back at the end: the last one comes
// without waiting for a later write. The server lets gRPC buffer an event
// while another waits, so both shapes matter: a backlog of several MiB, far
// more than gRPC's flow-control window and write buffer, and one of small
// events that fits in the write buffer whole.
class WatchBacklogTest : public ServiceFixture,
                         public ::testing::WithParamInterface<std::tuple<Storage, std::size_t>> {
 protected:
  Storage storage() const override { return std::get<0>(GetParam()); }
};
INSTANTIATE_TEST_SUITE_P(Backends, WatchBacklogTest,
                         ::testing::Combine(AllStorages(), ::testing::Values(std::size_t{8000}, std::size_t{0})),
                         [](const auto& info) {
                           return StorageName({std::get<0>(info.param), info.index}) +
                                  (std::get<1>(info.param) > 0 ? "_LargeEvents" : "_SmallEvents");
                         });

TEST_P(WatchBacklogTest, BacklogArrivesWholeAndInOrderS12S13) {
  const std::size_t padding = std::get<1>(GetParam());
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  v1::GpuList list;
  ASSERT_TRUE(List({}, &list).ok());
  v1::Gpu gpu = list.items(0);
  // 600 x ~8 KiB: about 5 MiB; or 600 events of a few hundred bytes.
  constexpr int kWrites = 600;
  ASSERT_GT(gpu.status().conditions_size(), 0);
  for (int i = 0; i < kWrites; ++i) {
    gpu.mutable_status()->mutable_conditions(0)->set_message("A" + std::to_string(i) + std::string(padding, 'x'));
    gpu.mutable_metadata()->clear_resource_version();
    ASSERT_TRUE(UpdateStatus(gpu).ok());
  }
  Watch w(stub(), WatchFrom(list.metadata().resource_version()));
  v1::WatchGpusResponse ev;
  std::uint64_t prev = std::stoull(list.metadata().resource_version());
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(w.NextObject(&ev)) << "event " << i;
    EXPECT_EQ(Rv(ev.object()), prev + 1);
    prev = Rv(ev.object());
    ASSERT_EQ(ev.object().status().conditions(0).message().substr(0, 1 + std::to_string(i).size()),
              "A" + std::to_string(i));
  }
  // A live write after the backlog arrives on its own.
  gpu.mutable_status()->set_recommended_action("live");
  ASSERT_TRUE(UpdateStatus(gpu).ok());
  ASSERT_TRUE(w.NextObject(&ev));
  EXPECT_EQ(ev.object().status().recommended_action(), "live");
  EXPECT_EQ(Rv(ev.object()), prev + 1);
  w.ctx.TryCancel();
  w.Drain();
}

// S15: initial events end with an annotated BOOKMARK; periodic bookmarks
// while idle carry the current revision and nothing else.
TEST_P(WatchTest, BookmarksS15) {
  ServerSetup setup;
  setup.store.bookmark_interval = std::chrono::milliseconds(100);
  StartServer(setup);
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  ASSERT_TRUE(Create(MakeGpu(2)).ok());
  v1::WatchGpusRequest req;
  req.mutable_opts()->set_send_initial_events(true);
  req.mutable_opts()->set_allow_watch_bookmarks(true);
  Watch w(stub(), req);
  v1::WatchGpusResponse ev;
  int added = 0;
  while (w.Next(&ev) && ev.type() == "ADDED") ++added;
  EXPECT_EQ(added, 2);
  ASSERT_EQ(ev.type(), "BOOKMARK");
  EXPECT_EQ(ev.object().metadata().annotations().at("k8s.io/initial-events-end"), "true");
  EXPECT_EQ(Rv(ev.object()), store().CurrentRevision());
  EXPECT_EQ(ev.object().metadata().name(), "");
  // An idle watch gets periodic bookmarks.
  ASSERT_TRUE(w.Next(&ev));
  EXPECT_EQ(ev.type(), "BOOKMARK");
  EXPECT_EQ(ev.object().metadata().annotations().count("k8s.io/initial-events-end"), 0u);
  EXPECT_EQ(Rv(ev.object()), store().CurrentRevision());
  EXPECT_FALSE(ev.object().has_spec());
  w.ctx.TryCancel();
  w.Drain();

  // Without allow_watch_bookmarks: no bookmark arrives before a real event.
  Watch quiet(stub(), WatchFrom(std::to_string(store().CurrentRevision())));
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  ASSERT_TRUE(Create(MakeGpu(3)).ok());
  ASSERT_TRUE(quiet.Next(&ev));
  EXPECT_EQ(ev.type(), "ADDED");
  quiet.ctx.TryCancel();
  quiet.Drain();
}

// S17: namespace and selector filters are exact.
TEST_P(WatchTest, FiltersAreExactS17) {
  v1::WatchGpusRequest req = WatchFrom("", "a");
  Watch ns_watch(stub(), req);
  req = WatchFrom("");
  req.mutable_opts()->set_label_selector("role=compute");
  Watch sel_watch(stub(), req);
  auto gpu_ab = MakeGpu(1, "ab");
  (*gpu_ab.mutable_metadata()->mutable_labels())["role"] = "compute-x";
  ASSERT_TRUE(Create(gpu_ab).ok());
  ASSERT_TRUE(Create(MakeGpu(2, "b")).ok());
  auto gpu_a = MakeGpu(3, "a");
  (*gpu_a.mutable_metadata()->mutable_labels())["role"] = "compute";
  ASSERT_TRUE(Create(gpu_a).ok());
  v1::WatchGpusResponse ev;
  ASSERT_TRUE(ns_watch.NextObject(&ev));
  EXPECT_EQ(ev.object().metadata().namespace_(), "a");
  EXPECT_EQ(ev.object().metadata().name(), UuidFor(3));
  ASSERT_TRUE(sel_watch.NextObject(&ev));
  EXPECT_EQ(ev.object().metadata().name(), UuidFor(3));
  ns_watch.ctx.TryCancel();
  sel_watch.ctx.TryCancel();
  ns_watch.Drain();
  sel_watch.Drain();
}

// S18: timeout_seconds ends the watch cleanly with OK.
TEST_P(WatchTest, TimeoutEndsOkS18) {
  v1::WatchGpusRequest req;
  req.mutable_opts()->set_timeout_seconds(1);
  const auto start = std::chrono::steady_clock::now();
  Watch w(stub(), req);
  auto s = w.Drain();
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(5));
}

// S18/S22: store shutdown ends open watches with UNAVAILABLE.
TEST_P(WatchTest, ShutdownEndsWatchesUnavailableS18) {
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  Watch w1(stub(), WatchFrom(""));
  Watch w2(stub(), WatchFrom(std::to_string(store().CurrentRevision())));
  v1::WatchGpusResponse ev;
  ASSERT_TRUE(w1.Next(&ev));
  // Make sure w2 is registered before shutting down.
  ASSERT_TRUE(Create(MakeGpu(2)).ok());
  ASSERT_TRUE(w2.Next(&ev));
  store().Shutdown();
  auto s1 = w1.Drain();
  auto s2 = w2.Drain();
  EXPECT_EQ(s1.error_code(), StatusCode::UNAVAILABLE) << s1.error_message();
  EXPECT_EQ(s2.error_code(), StatusCode::UNAVAILABLE) << s2.error_message();
}

// The process log while it lives (JSON lines), then stderr again.
class LogCapture {
 public:
  LogCapture() {
    base::InitLogging({.json = true,
                       .verbosity = 0,
                       .sink = [this](std::string_view line) {
                         std::lock_guard<std::mutex> lock(mu_);
                         lines_.push_back(nlohmann::json::parse(line));
                       },
                       .route_grpc = false});
  }
  ~LogCapture() { base::InitLogging({}); }
  std::vector<nlohmann::json> Lines(const std::string& msg) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<nlohmann::json> out;
    for (const auto& line : lines_) {
      if (line.value("msg", "") == msg) out.push_back(line);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<nlohmann::json> lines_;
};

// S16: a client that stops reading is cut off with RESOURCE_EXHAUSTED
// "watcher too slow"; writers and a reading watcher are not held up; the
// slow client re-watches from its last revision and loses nothing (S12).
TEST_P(WatchTest, SlowWatcherIsCutOffS16) {
  LogCapture log;
  ServerSetup setup;
  setup.store.watcher_queue_capacity = 4;
  setup.store.history_max_bytes = 256u << 20;  // keep every ~1 MiB event for the re-watch
  StartServer(setup);
  v1::Gpu gpu;
  ASSERT_TRUE(Create(MakeGpu(1), &gpu).ok());
  const std::uint64_t start_rv = Rv(gpu);

  Watch slow(stub(), WatchFrom(std::to_string(start_rv)), 60);
  std::atomic<int> fast_events{0};
  Watch fast(stub(), WatchFrom(std::to_string(start_rv)), 60);
  constexpr int kWrites = 24;
  std::thread fast_reader([&] {
    v1::WatchGpusResponse ev;
    while (fast_events.load() < kWrites && fast.NextObject(&ev)) fast_events.fetch_add(1);
  });

  // Each event carries ~1 MiB (32 conditions x 32 KiB), so the slow client's
  // transport window fills after a few events and its queue overflows.
  for (int i = 0; i < 32; ++i) {
    auto* c = i == 0 ? gpu.mutable_status()->mutable_conditions(0)
                     : gpu.mutable_status()->add_conditions();
    if (i > 0) {
      c->set_type("Big" + std::to_string(i));
      c->set_status("True");
    }
    c->set_message(std::string(32 << 10, 'x'));
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kWrites; ++i) {
    gpu.mutable_status()->set_recommended_action("A" + std::to_string(i));
    gpu.mutable_metadata()->clear_resource_version();
    ASSERT_TRUE(UpdateStatus(gpu).ok());
  }
  const auto write_time = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(write_time, std::chrono::seconds(10));  // writers never waited for the slow one
  fast_reader.join();
  EXPECT_EQ(fast_events.load(), kWrites);  // the other watcher got everything

  // Now the slow client reads what reached it, then the verdict.
  std::set<std::uint64_t> seen;
  v1::WatchGpusResponse ev;
  std::uint64_t last = start_rv;
  while (slow.NextObject(&ev)) {
    last = Rv(ev.object());
    seen.insert(last);
  }
  auto s = slow.Finish();
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(s.error_message(), "watcher too slow");
  EXPECT_LT(seen.size(), static_cast<std::size_t>(kWrites));
  EXPECT_EQ(service().Stats().watch_streams_too_slow, 1u);
  // Logged once, at warn, naming the watch and what its client got last.
  auto logged = log.Lines("watch ended: watcher too slow");
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0]["level"], "warn");
  EXPECT_EQ(logged[0]["method"], "WatchGpus");
  EXPECT_EQ(logged[0]["resource_version"], last);

  // Re-watch from the last revision seen: the rest arrives, nothing lost.
  Watch again(stub(), WatchFrom(std::to_string(last)), 60);
  while (last < store().CurrentRevision() && again.NextObject(&ev)) {
    last = Rv(ev.object());
    seen.insert(last);
  }
  if (last < store().CurrentRevision()) {
    auto rs = again.Finish();
    ADD_FAILURE() << "re-watch ended early: " << rs.error_code() << " " << rs.error_message();
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kWrites));
  EXPECT_EQ(*seen.begin(), start_rv + 1);
  EXPECT_EQ(*seen.rbegin(), start_rv + kWrites);
  again.ctx.TryCancel();
  again.Drain();
  fast.ctx.TryCancel();
  fast.Drain();
}

// An event storm can end every watch at once, again and again as clients
// re-watch: the lines are bounded, and the next one says how many were left out.
TEST(WatchTooSlowLogTest, LinesAreRateLimited) {
  LogCapture log;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a second of its own
  const WatchSubject subject{"WatchGpus", "default", "a=b"};
  constexpr int kEvictions = 20;
  for (int i = 0; i < kEvictions; ++i) LogWatchTooSlow(subject, 7);
  auto lines = log.Lines("watch ended: watcher too slow");
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kTooSlowLinesPerSecond));
  EXPECT_EQ(lines[0]["level"], "warn");
  EXPECT_EQ(lines[0]["method"], "WatchGpus");
  EXPECT_EQ(lines[0]["namespace"], "default");
  EXPECT_EQ(lines[0]["label_selector"], "a=b");
  EXPECT_EQ(lines[0]["resource_version"], 7);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  LogWatchTooSlow(subject, 8);
  lines = log.Lines("watch ended: watcher too slow");
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kTooSlowLinesPerSecond) + 1);
  EXPECT_EQ(lines.back()["resource_version"], 8);
  EXPECT_EQ(lines.back()["suppressed"], kEvictions - kTooSlowLinesPerSecond);
}

// Many streams opening and closing while writes flow: no crash, no leak of
// active streams (the reactor lifetime rules in watch_reactor.h).
TEST_P(WatchTest, StreamsComeAndGoUnderWrites) {
  v1::Gpu gpu;
  ASSERT_TRUE(Create(MakeGpu(1), &gpu).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    v1::Gpu g = gpu;
    int i = 0;
    while (!stop.load()) {
      g.mutable_status()->set_recommended_action("A" + std::to_string(i++ % 7));
      g.mutable_metadata()->clear_resource_version();
      (void)UpdateStatus(g);
    }
  });
  for (int round = 0; round < 30; ++round) {
    Watch w(stub(), WatchFrom(""));
    v1::WatchGpusResponse ev;
    ASSERT_TRUE(w.Next(&ev));
    if (round % 3 == 0) {
      ASSERT_TRUE(w.Next(&ev));
    }
    w.ctx.TryCancel();
    w.Drain();
  }
  stop = true;
  writer.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (service().Stats().active_watch_streams != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service().Stats().active_watch_streams, 0u);
  EXPECT_GT(service().Stats().watch_events_sent, 30u);
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
