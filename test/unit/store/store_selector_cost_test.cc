// S32: label filtering never runs under the store lock. A List or a Watch
// whose selector is slow to evaluate delays its own caller only: writers and
// other readers go on. Deterministic: an object whose labels() blocks until
// the test opens a gate stands in for a costly selector.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT
using namespace std::chrono_literals;

// Closed until Open(); a closed gate holds whoever evaluates the object's
// labels (at most `limit`, so a broken store fails the test, not hangs it).
class Gate {
 public:
  void Pass() const {
    std::unique_lock l(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait_for(l, 3s, [this] { return open_; });
  }
  void WaitEntered() const {
    std::unique_lock l(mu_);
    cv_.wait(l, [this] { return entered_; });
  }
  void Open() {
    std::lock_guard l(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable bool entered_ = false;
  bool open_ = false;
};

class GatedObject final : public Object {
 public:
  GatedObject(ObjectKey key, Labels labels, Revision revision, const Gate* gate)
      : key_(std::move(key)), labels_(std::move(labels)), revision_(revision), gate_(gate) {}
  const ObjectKey& key() const override { return key_; }
  const Labels& labels() const override {
    gate_->Pass();
    return labels_;
  }
  Revision revision() const override { return revision_; }
  std::size_t ByteSize() const override { return sizeof(*this); }

 private:
  ObjectKey key_;
  Labels labels_;
  Revision revision_;
  const Gate* gate_;
};

Result<ObjectPtr> CreateGated(Store& s, const ObjectKey& key, const Gate* gate) {
  return s.Create(key, [&](Revision next) -> Result<ObjectPtr> {
    return ObjectPtr(std::make_shared<GatedObject>(key, Labels{{"k", "v"}}, next, gate));
  });
}

labels::Selector KEqualsV() { return *labels::Selector::Parse("k=v"); }

// S32: a write completes while a List is still evaluating its selector.
TEST(StoreSelectorCost, ListFiltersAfterReleasingTheLockS32) {
  auto s = OpenStore();
  Gate gate;
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {{"k", "v"}}, "0").ok());
  ASSERT_TRUE(CreateGated(*s, Key("ns", "slow"), &gate).ok());
  std::atomic<bool> listed{false};
  std::size_t items = 0;
  std::thread lister([&] {
    ListOptions o;
    o.selector = KEqualsV();
    auto l = s->List(o);
    items = l.ok() ? l->items.size() : 0;
    listed = true;
  });
  gate.WaitEntered();  // the List is evaluating the selector now
  ASSERT_TRUE(Update(*s, Key("ns", "a"), "1").ok());
  EXPECT_FALSE(listed.load()) << "the write waited for the List's label filtering";
  gate.Open();
  lister.join();
  EXPECT_EQ(items, 2u);
}

// S32, S13: a watch's initial events are filtered outside the lock; a write
// that lands meanwhile comes after them, exactly once.
TEST(StoreSelectorCost, WatchFiltersInitialEventsAfterReleasingTheLockS32) {
  auto s = OpenStore();
  Gate gate;
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {{"k", "v"}}, "0").ok());
  ASSERT_TRUE(CreateGated(*s, Key("ns", "slow"), &gate).ok());
  const Revision before = s->CurrentRevision();
  std::atomic<bool> registered{false};
  std::shared_ptr<Watcher> watcher;
  std::thread watching([&] {
    WatchOptions o;
    o.selector = KEqualsV();
    auto w = s->Watch(o);
    if (w.ok()) watcher = *w;
    registered = true;
  });
  gate.WaitEntered();
  auto updated = Update(*s, Key("ns", "a"), "1");
  ASSERT_TRUE(updated.ok());
  EXPECT_FALSE(registered.load()) << "the write waited for the watch's label filtering";
  gate.Open();
  watching.join();
  ASSERT_NE(watcher, nullptr);
  Event e;
  ASSERT_TRUE(watcher->WaitNext(&e, 2s));
  EXPECT_EQ(e.type, EventType::kAdded);
  EXPECT_EQ(e.revision, before);
  EXPECT_EQ(e.object->key().name, "a");
  EXPECT_EQ(As(e.object).data(), "0");
  ASSERT_TRUE(watcher->WaitNext(&e, 2s));
  EXPECT_EQ(e.type, EventType::kAdded);
  EXPECT_EQ(e.object->key().name, "slow");
  ASSERT_TRUE(watcher->WaitNext(&e, 2s));
  EXPECT_EQ(e.type, EventType::kModified);
  EXPECT_EQ(e.revision, (*updated)->revision());
  EXPECT_FALSE(watcher->WaitNext(&e, 50ms));
  watcher->Cancel();
}

// S32, S12: a watch resuming from history filters the replay outside the lock.
// Watches k=v from `start` (with `timeout`, 0 for none) on a thread of its
// own while the gate holds its history replay on the "slow" object; runs
// `meanwhile` with the flag that says whether Watch returned, then opens the
// gate and returns the watcher.
std::shared_ptr<Watcher> WatchWhileReplayHeld(Store& s, Gate& gate, Revision start, std::chrono::milliseconds timeout,
                                              const std::function<void(const std::atomic<bool>&)>& meanwhile) {
  std::atomic<bool> registered{false};
  std::shared_ptr<Watcher> watcher;
  std::thread watching([&] {
    WatchOptions o;
    o.selector = KEqualsV();
    o.start = start;
    o.timeout = timeout;
    auto w = s.Watch(o);
    if (w.ok()) watcher = *w;
    registered = true;
  });
  gate.WaitEntered();
  meanwhile(registered);
  gate.Open();
  watching.join();
  return watcher;
}

// "TYPE name" of each event until the watch is quiet for 200 ms.
std::vector<std::string> Seen(Watcher& watcher) {
  std::vector<std::string> seen;
  Event e;
  while (watcher.WaitNext(&e, 200ms)) seen.push_back(std::string(EventTypeName(e.type)) + " " + e.object->key().name);
  return seen;
}

TEST(StoreSelectorCost, WatchFiltersHistoryReplayAfterReleasingTheLockS32) {
  auto s = OpenStore();
  Gate gate;
  const Revision start = s->CurrentRevision();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {{"k", "v"}}, "0").ok());
  ASSERT_TRUE(CreateGated(*s, Key("ns", "slow"), &gate).ok());
  auto watcher = WatchWhileReplayHeld(*s, gate, start, 0ms, [&](const std::atomic<bool>& registered) {
    ASSERT_TRUE(Update(*s, Key("ns", "a"), "1").ok());
    EXPECT_FALSE(registered.load()) << "the write waited for the replay's label filtering";
  });
  ASSERT_NE(watcher, nullptr);
  EXPECT_EQ(Seen(*watcher), (std::vector<std::string>{"ADDED a", "ADDED slow", "MODIFIED a"}));
  watcher->Cancel();
}

// S12, S18: a watch whose timeout passes while its history replay is still
// being filtered ends cleanly after the replay and the events queued behind
// it, never with the live events alone (the client would resume after them
// and never see the replay).
TEST(StoreSelectorCost, TimeoutDuringTheReplayKeepsTheReplayS12S18) {
  auto s = OpenStore();
  Gate gate;
  const Revision start = s->CurrentRevision();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {{"k", "v"}}, "0").ok());
  ASSERT_TRUE(CreateGated(*s, Key("ns", "slow"), &gate).ok());
  auto watcher = WatchWhileReplayHeld(*s, gate, start, 20ms, [&](const std::atomic<bool>&) {
    ASSERT_TRUE(Update(*s, Key("ns", "a"), "1").ok());
    std::this_thread::sleep_for(200ms);  // the timeout passes meanwhile
  });
  ASSERT_NE(watcher, nullptr);
  EXPECT_EQ(Seen(*watcher), (std::vector<std::string>{"ADDED a", "ADDED slow", "MODIFIED a"}));
  EXPECT_EQ(watcher->end(), Watcher::End::kTimeout);
}

}  // namespace
}  // namespace deviceapi::store
