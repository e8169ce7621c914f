// How the informer hands changes to its handlers, over a FakeClient: each
// handler is one object called in place (its state persists, its captures
// are not copied per event), and a handler added late sees only later
// changes.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deviceapi/fake_client.h"
#include "deviceapi/informer.h"

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

template <typename F>
bool Eventually(F f, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!f()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

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

}  // namespace
}  // namespace deviceapi
