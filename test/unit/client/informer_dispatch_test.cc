// How the informer hands changes to its handlers, over a FakeClient: each
// handler is one object called in place (its state persists, its captures
// are not copied per event), a handler added late sees only later changes,
// and resyncs go through the same ordered queue as the changes, on time
// even while that queue is busy.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deviceapi/conditions.h"
#include "deviceapi/fake_client.h"
#include "deviceapi/informer.h"
#include "eventually.h"

namespace deviceapi {
namespace {

using namespace std::chrono_literals;

Gpu MakeGpu(const std::string& name, int i) {
  Gpu g;
  g.mutable_metadata()->set_name(name);
  char uuid[64];
  std::snprintf(uuid, sizeof(uuid), "GPU-%08x-0000-4000-8000-%012x", i, i);
  g.mutable_spec()->set_uuid(uuid);
  return g;
}

using deviceapi::testing::Eventually;

// Counts how often it is copied.
struct CopyCounter {
  explicit CopyCounter(std::shared_ptr<std::atomic<int>> n) : copies(std::move(n)) {}
  CopyCounter(const CopyCounter& other) : copies(other.copies) { ++*copies; }
  CopyCounter(CopyCounter&&) = default;
  std::shared_ptr<std::atomic<int>> copies;
};

TEST(InformerDispatch, HandlersAreCalledInPlaceNotCopiedPerEvent) {
  FakeClient client;
  constexpr int kObjects = 50;
  for (int i = 0; i < kObjects; ++i)
    ASSERT_TRUE(client.Create(MakeGpu("gpu-" + std::to_string(i), i)).ok());
  std::atomic<int> last_count{0};
  auto copies = std::make_shared<std::atomic<int>>(0);
  EventHandlers h;
  // A stateful handler: its count must run up across events.
  h.on_add = [n = 0, &last_count, counter = CopyCounter(copies)](const GpuPtr&) mutable {
    last_count = ++n;
  };
  Informer informer(client);
  informer.AddEventHandlers(std::move(h));
  const int copies_before = copies->load();
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  EXPECT_EQ(last_count.load(), kObjects);
  EXPECT_EQ(copies->load(), copies_before) << "the handler was copied for delivery";
  informer.Stop();
}

// The header's promise: handlers added after Start() see only later changes,
// not ones queued before they were added.
TEST(InformerDispatch, HandlerAddedAfterStartSeesOnlyLaterChanges) {
  FakeClient client;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.Create(MakeGpu("old-" + std::to_string(i), i)).ok());
  std::mutex mu;
  std::condition_variable cv;
  bool first_blocked = false, release = false;
  EventHandlers blocking;
  blocking.on_add = [&](const GpuPtr&) {
    std::unique_lock lock(mu);
    first_blocked = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  Informer informer(client);
  informer.AddEventHandlers(blocking);
  informer.Start();
  {
    // The dispatcher is in the first add; the other two adds are queued.
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return first_blocked; }));
  }
  std::vector<std::string> late_seen;
  EventHandlers late;
  late.on_add = [&](const GpuPtr& g) {
    std::lock_guard lock(mu);
    late_seen.push_back(g->metadata().name());
  };
  informer.AddEventHandlers(late);
  ASSERT_TRUE(client.Create(MakeGpu("new-0", 9)).ok());
  ASSERT_TRUE(Eventually([&] { return informer.lister().Size() == 4; }));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return !late_seen.empty();
  }));
  informer.Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(late_seen, std::vector<std::string>{"new-0"});
}

// Resync re-delivers what the handlers were already told: never an object
// before its add, never a version other than the last one delivered.
TEST(InformerDispatch, ResyncNeverOvertakesQueuedChanges) {
  FakeClient client;
  InformerOptions o;
  o.resync_period = 1ms;
  Informer informer(client, o);
  std::mutex mu;
  std::map<std::string, std::string> delivered;  // name -> last rv handed out
  std::vector<std::string> problems;
  std::atomic<int> resyncs{0}, adds{0};
  EventHandlers h;
  h.on_add = [&](const GpuPtr& g) {
    std::lock_guard lock(mu);
    delivered[g->metadata().name()] = g->metadata().resource_version();
    ++adds;
  };
  h.on_update = [&](const GpuPtr& old_obj, const GpuPtr& g) {
    std::lock_guard lock(mu);
    const std::string& name = g->metadata().name();
    auto it = delivered.find(name);
    if (it == delivered.end()) {
      if (problems.size() < 5) problems.push_back("update of " + name + " before its add");
    } else if (it->second != old_obj->metadata().resource_version()) {
      if (problems.size() < 5)
        problems.push_back("update of " + name + " from rv " + old_obj->metadata().resource_version() +
                           " but rv " + it->second + " was delivered last");
    }
    if (old_obj == g) ++resyncs;
    delivered[name] = g->metadata().resource_version();
  };
  informer.AddEventHandlers(h);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  constexpr int kObjects = 3000;
  for (int i = 0; i < kObjects; ++i) {
    ASSERT_TRUE(client.Create(MakeGpu("gpu-" + std::to_string(i), i)).ok());
    if (i % 3 == 0) {
      Gpu g = MakeGpu("gpu-" + std::to_string(i), i);
      SetCondition(g.mutable_status(), MakeCondition("Ready", kConditionTrue, "Fine"));
      ASSERT_TRUE(client.UpdateStatus(g).ok());
    }
  }
  ASSERT_TRUE(Eventually([&] { return adds.load() == kObjects; }, 30s));
  informer.Stop();
  EXPECT_GT(resyncs.load(), 0);
  std::lock_guard lock(mu);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

// Resync keeps its period while the queue never drains: it is a deadline,
// not something done when there is nothing else to do.
TEST(InformerDispatch, ResyncIsNotStarvedByABusyQueue) {
  FakeClient client;
  ASSERT_TRUE(client.Create(MakeGpu("gpu-0", 0)).ok());
  InformerOptions o;
  o.resync_period = 20ms;
  Informer informer(client, o);
  std::atomic<int> resyncs{0};
  std::atomic<std::uint64_t> updates{0};
  EventHandlers h;
  h.on_update = [&](const GpuPtr& old_obj, const GpuPtr& g) {
    if (old_obj == g) {
      ++resyncs;
      return;
    }
    ++updates;
    std::this_thread::sleep_for(2ms);
  };
  informer.AddEventHandlers(h);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));
  ASSERT_TRUE(Eventually([&] { return resyncs.load() >= 1; }));
  // Keeps a few changes queued at all times: the queue never drains, and
  // what is queued takes the handler about 10 ms.
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> min_backlog{1000};
  std::thread writer([&] {
    for (int n = 0; !stop; ++n) {
      std::uint64_t backlog = informer.Stats().events - updates.load();
      if (n > 20 && backlog < min_backlog) min_backlog = backlog;
      if (backlog >= 5) {
        std::this_thread::sleep_for(200us);
        continue;
      }
      Gpu g = MakeGpu("gpu-0", 0);
      SetCondition(g.mutable_status(),
                   MakeCondition("Ready", kConditionTrue, "Counting", std::to_string(n)));
      (void)client.UpdateStatus(g);
    }
  });
  ASSERT_TRUE(Eventually([&] { return updates.load() >= 10; }));
  const int before = resyncs.load();
  std::this_thread::sleep_for(500ms);  // 25 periods
  const int during = resyncs.load() - before;
  stop = true;
  writer.join();
  informer.Stop();
  EXPECT_GE(during, 5) << "resyncs while the queue was busy (fewest changes queued: "
                       << min_backlog.load() << ")";
}

// An informer runs once, as its header says: Start() after Stop() does
// nothing, also when Stop() came before any Start(), so a stopped informer
// never serves a cache again.
TEST(InformerLifecycle, StartAfterStopDoesNothingEvenBeforeAnyStart) {
  FakeClient client;
  ASSERT_TRUE(client.Create(MakeGpu("gpu-0", 0)).ok());
  Informer informer(client);
  informer.Stop();
  informer.Start();
  EXPECT_FALSE(informer.WaitForSync(300ms));
  EXPECT_FALSE(informer.HasSynced());
  EXPECT_TRUE(informer.lister().List().empty());
}

}  // namespace
}  // namespace deviceapi
