// Watch: resume from a revision (S12), initial state (S13), history bounds
// (S14), bookmarks (S15), filters (S17, S10), ends (S18), limits (S19).
#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT
using std::chrono::milliseconds;

class StoreWatch : public BackendTest {};
DEVICEAPI_ON_ALL_BACKENDS(StoreWatch);

std::vector<Event> Drain(Watcher& w) {
  std::vector<Event> out;
  Event e;
  while (w.Next(&e)) out.push_back(e);
  return out;
}

// Every event of a watch whose writers have stopped. Initial events are
// computed after the store's lock is released (S32), so the first one may not
// be ready when Next is first called: it is waited for; the rest are queued.
std::vector<Event> DrainAfterWrites(Watcher& w) {
  std::vector<Event> out;
  Event e;
  if (!w.WaitNext(&e, std::chrono::seconds(10))) return out;
  out.push_back(e);
  while (w.Next(&e)) out.push_back(e);
  return out;
}

std::shared_ptr<Watcher> MustWatch(Store& s, WatchOptions o) {
  auto w = s.Watch(o);
  EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error().message);
  return w.ok() ? *w : nullptr;
}

WatchOptions From(Revision r) {
  WatchOptions o;
  o.start = r;
  return o;
}

// S12
TEST_P(StoreWatch, WatchFromRevisionDeliversEachLaterEventOnceS12) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());        // 101
  ASSERT_TRUE(Create(*s, Key("ns", "b")).ok());        // 102
  ASSERT_TRUE(Update(*s, Key("ns", "a"), "x").ok());   // 103
  auto w = MustWatch(*s, From(101));
  ASSERT_TRUE(Delete(*s, Key("ns", "b")).ok());        // 104, live
  ASSERT_TRUE(Create(*s, Key("ns", "c")).ok());        // 105, live
  auto events = Drain(*w);
  ASSERT_EQ(events.size(), 4u);
  std::vector<Revision> revs;
  for (auto& e : events) revs.push_back(e.revision);
  EXPECT_EQ(revs, (std::vector<Revision>{102, 103, 104, 105}));
  EXPECT_EQ(events[0].type, EventType::kAdded);
  EXPECT_EQ(events[1].type, EventType::kModified);
  EXPECT_EQ(events[2].type, EventType::kDeleted);
  EXPECT_EQ(events[3].type, EventType::kAdded);
  EXPECT_EQ(w->last_revision(), 105u);
  EXPECT_EQ(w->end(), Watcher::End::kNone);
  // From the current revision: only live events.
  auto live = MustWatch(*s, From(105));
  EXPECT_TRUE(Drain(*live).empty());
  ASSERT_TRUE(Update(*s, Key("ns", "c"), "y").ok());
  auto more = Drain(*live);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].revision, 106u);
}

// S12: a start above the current revision waits for it like a read (S9).
TEST_P(StoreWatch, FutureStartWaitsThenTooLargeS12) {
  auto o = SmallOptions();
  o.future_revision_wait = milliseconds(100);
  auto s = OpenStore(o);
  auto w = s->Watch(From(150));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kTooLargeRevision);

  o.future_revision_wait = milliseconds(10000);
  auto s2 = OpenStore(o);
  auto pending = std::async(std::launch::async, [&] { return s2->Watch(From(101)); });
  EXPECT_EQ(pending.wait_for(milliseconds(30)), std::future_status::timeout);
  ASSERT_TRUE(Create(*s2, Key("ns", "a")).ok());  // 101
  auto w2 = pending.get();
  ASSERT_TRUE(w2.ok());
  ASSERT_TRUE(Create(*s2, Key("ns", "b")).ok());  // 102
  auto ev = Drain(**w2);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].revision, 102u);
}

// S13
TEST_P(StoreWatch, WatchWithoutStartSendsCurrentStateThenLiveS13) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "b"), {{"gpu", "yes"}}).ok());
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {{"gpu", "yes"}}).ok());
  ASSERT_TRUE(Create(*s, Key("ns", "c"), {}).ok());
  ASSERT_TRUE(Delete(*s, Key("ns", "b")).ok());
  WatchOptions o;
  o.selector = *labels::Selector::Parse("gpu");
  auto w = MustWatch(*s, o);
  ASSERT_TRUE(Create(*s, Key("ns", "d"), {{"gpu", "yes"}}).ok());
  auto ev = Drain(*w);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, EventType::kAdded);
  EXPECT_EQ(ev[0].object->key().name, "a");
  EXPECT_EQ(ev[0].revision, 104u);  // the snapshot's revision
  EXPECT_EQ(ev[1].type, EventType::kAdded);
  EXPECT_EQ(ev[1].object->key().name, "d");
  EXPECT_EQ(ev[1].revision, 105u);
}

// S13: writers running while watches start: for every watcher, the initial
// state plus the live events replay to exactly the final state, and every
// live event has a revision above the snapshot, in order, with no gap.
TEST_P(StoreWatch, NoGapOrDuplicateWithConcurrentWritersS13) {
  auto o = SmallOptions();
  o.watcher_queue_capacity = 1 << 20;
  auto s = OpenStore(o);
  constexpr int kKeys = 16;
  for (int k = 0; k < kKeys; ++k) ASSERT_TRUE(Create(*s, Key("ns", "k" + std::to_string(k)), {}, "0").ok());
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  // Bounded, so that no watcher's queue (1 Mi events) can overflow however
  // fast the machine writes while the watchers open: an overflow ends the
  // watch as too slow (S16), which is not what this test is about.
  constexpr int kMaxWritesPerWriter = 200000;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load() && i < kMaxWritesPerWriter; ++i) {
        auto key = Key("ns", "k" + std::to_string((i * 2 + t) % kKeys));
        if (i % 7 == 0) {
          Delete(*s, key);
          Create(*s, key, {}, std::to_string(i));
        } else {
          Update(*s, key, std::to_string(i));
        }
      }
    });
  }
  std::vector<std::shared_ptr<Watcher>> watchers;
  for (int i = 0; i < 20; ++i) {
    watchers.push_back(MustWatch(*s, WatchOptions{}));
    std::this_thread::sleep_for(milliseconds(1));
  }
  stop = true;
  for (auto& t : writers) t.join();
  auto final_state = s->List();
  ASSERT_TRUE(final_state.ok());
  for (auto& w : watchers) {
    std::map<std::string, Revision> state;
    Revision snapshot = 0, last = 0;
    bool initial = true;
    for (auto& e : DrainAfterWrites(*w)) {
      if (initial && e.type == EventType::kAdded && (snapshot == 0 || e.revision == snapshot)) {
        snapshot = e.revision;
        EXPECT_EQ(state.count(e.object->key().name), 0u) << "duplicate initial object";
        state[e.object->key().name] = e.object->revision();
        last = e.revision;
        continue;
      }
      initial = false;
      EXPECT_EQ(e.revision, last + 1) << "gap or duplicate in the live stream";
      last = e.revision;
      if (e.type == EventType::kDeleted) {
        EXPECT_EQ(state.erase(e.object->key().name), 1u);
      } else if (e.type == EventType::kAdded) {
        EXPECT_TRUE(state.emplace(e.object->key().name, e.object->revision()).second);
      } else {
        ASSERT_EQ(state.count(e.object->key().name), 1u);
        state[e.object->key().name] = e.object->revision();
      }
    }
    EXPECT_EQ(last, final_state->revision);
    ASSERT_EQ(state.size(), final_state->items.size());
    for (const auto& obj : final_state->items) EXPECT_EQ(state[obj->key().name], obj->revision());
  }
}

// S14
TEST_P(StoreWatch, WatchOlderThanHistoryIsExpiredS14) {
  auto o = SmallOptions();
  o.history_max_events = 3;
  auto s = OpenStore(o);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(Create(*s, Key("ns", "o" + std::to_string(i))).ok());  // 101..106
  auto st = s->Stats();
  EXPECT_EQ(st.history_events, 3u);
  EXPECT_EQ(st.oldest_retained_revision, 104u);
  auto w = s->Watch(From(102));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kExpired);
  EXPECT_EQ(w.error().message.rfind("too old resource version", 0), 0u);
  EXPECT_EQ(s->Stats().watches_expired, 1u);
  auto ok = MustWatch(*s, From(103));  // 104.. all retained
  EXPECT_EQ(Drain(*ok).size(), 3u);
}

// S14: the byte bound trims history too.
TEST_P(StoreWatch, HistoryBoundedByBytesS14) {
  auto o = SmallOptions();
  const std::size_t one = TestObject(Key("ns", "x"), {}, 1, std::string(10000, 'x')).ByteSize();
  // Five events of one object hold six versions: each event's new state,
  // and the state before the oldest one (its `previous`, for rollback).
  o.history_max_bytes = one * 6 + one / 2;
  auto s = OpenStore(o);
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, std::string(10000, 'a')).ok());  // 101
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Update(*s, Key("ns", "a"), std::string(10000, static_cast<char>('b' + i))).ok());  // ..121
  }
  auto st = s->Stats();
  EXPECT_EQ(st.history_events, 5u);
  EXPECT_LE(st.history_bytes, o.history_max_bytes);
  EXPECT_EQ(st.oldest_retained_revision, 117u);
  EXPECT_EQ(s->Watch(From(115)).error().code, ErrorCode::kExpired);
  EXPECT_TRUE(s->Watch(From(116)).ok());
}

// S15: initial events end with a BOOKMARK marked initial_events_end.
TEST_P(StoreWatch, SendInitialEventsEndsWithBookmarkS15) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  ASSERT_TRUE(Create(*s, Key("ns", "b")).ok());
  WatchOptions o;
  o.send_initial_events = true;
  auto w = MustWatch(*s, o);
  ASSERT_TRUE(Create(*s, Key("ns", "c")).ok());
  auto ev = Drain(*w);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].type, EventType::kBookmark);
  EXPECT_TRUE(ev[2].initial_events_end);
  EXPECT_EQ(ev[2].revision, 102u);
  EXPECT_FALSE(ev[2].object);
  EXPECT_EQ(ev[3].revision, 103u);
  EXPECT_FALSE(ev[3].initial_events_end);
  // Empty store: just the bookmark.
  auto empty = OpenStore();
  auto w2 = MustWatch(*empty, o);
  auto ev2 = Drain(*w2);
  ASSERT_EQ(ev2.size(), 1u);
  EXPECT_TRUE(ev2[0].initial_events_end);
}

// S15: idle bookmark-enabled watchers get periodic BOOKMARKs with the current revision.
TEST_P(StoreWatch, IdleWatchGetsPeriodicBookmarksS15) {
  auto o = SmallOptions();
  o.bookmark_interval = milliseconds(50);
  auto s = OpenStore(o);
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  WatchOptions wo = From(101);
  wo.allow_bookmarks = true;
  auto w = MustWatch(*s, wo);
  auto plain = MustWatch(*s, From(101));
  Event e;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(w->WaitNext(&e, milliseconds(5000)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(40));
  EXPECT_EQ(e.type, EventType::kBookmark);
  EXPECT_EQ(e.revision, 101u);
  EXPECT_FALSE(e.initial_events_end);
  ASSERT_TRUE(Update(*s, Key("ns", "a"), "x").ok());
  do {  // more idle bookmarks may have come first on a loaded machine
    ASSERT_TRUE(w->WaitNext(&e, milliseconds(5000)));
    if (e.type == EventType::kBookmark) {
      EXPECT_EQ(e.revision, 101u);
    }
  } while (e.type == EventType::kBookmark);
  EXPECT_EQ(e.type, EventType::kModified);
  EXPECT_EQ(e.revision, 102u);
  ASSERT_TRUE(w->WaitNext(&e, milliseconds(5000)));
  EXPECT_EQ(e.type, EventType::kBookmark);
  EXPECT_EQ(e.revision, 102u);
  ASSERT_TRUE(w->WaitNext(&e, milliseconds(5000)));  // and again while idle
  EXPECT_EQ(e.type, EventType::kBookmark);
  // Without allow_bookmarks: only the real event.
  auto ev = Drain(*plain);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kModified);
}

// S17, S10: namespace "a" never sees "ab"; selectors filter watches; a
// MODIFIED leaving the selector is a DELETED, one entering it an ADDED.
TEST_P(StoreWatch, NamespaceAndSelectorMatchExactlyS17) {
  auto s = OpenStore();
  WatchOptions ns = From(100);
  ns.namespace_name = "a";
  auto wa = MustWatch(*s, ns);
  WatchOptions sel = From(100);
  sel.selector = *labels::Selector::Parse("health=ok");
  auto wsel = MustWatch(*s, sel);
  ASSERT_TRUE(Create(*s, Key("ab", "x"), {{"health", "ok"}}).ok());  // 101
  ASSERT_TRUE(Create(*s, Key("a", "x"), {{"health", "bad"}}).ok());  // 102
  ASSERT_TRUE(Relabel(*s, Key("a", "x"), {{"health", "ok"}}).ok());  // 103 enters selector
  ASSERT_TRUE(Update(*s, Key("a", "x"), "d").ok());                  // 104 stays
  ASSERT_TRUE(Relabel(*s, Key("a", "x"), {{"health", "bad"}}).ok()); // 105 leaves
  ASSERT_TRUE(Update(*s, Key("a", "x"), "e").ok());                  // 106 outside
  ASSERT_TRUE(Delete(*s, Key("a", "x")).ok());                       // 107 outside
  ASSERT_TRUE(Delete(*s, Key("ab", "x")).ok());                      // 108

  auto a = Drain(*wa);
  ASSERT_EQ(a.size(), 6u);
  for (auto& e : a) EXPECT_EQ(e.object->key().namespace_name, "a");

  auto v = Drain(*wsel);
  std::vector<std::pair<EventType, Revision>> got;
  for (auto& e : v) got.emplace_back(e.type, e.revision);
  std::vector<std::pair<EventType, Revision>> want = {
      {EventType::kAdded, 101}, {EventType::kAdded, 103}, {EventType::kModified, 104},
      {EventType::kDeleted, 105}, {EventType::kDeleted, 108}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(v[3].object->labels().at("health"), "bad");  // DELETED carries the new state

  // Replaying the same range from history (S12) filters the same way.
  auto replay = Drain(*MustWatch(*s, sel));
  got.clear();
  for (auto& e : replay) got.emplace_back(e.type, e.revision);
  EXPECT_EQ(got, want);
  ns.start = 100;
  EXPECT_EQ(Drain(*MustWatch(*s, ns)).size(), 6u);
}

// S18
TEST_P(StoreWatch, TimeoutEndsWatchS18) {
  auto s = OpenStore();
  WatchOptions o = From(100);
  o.timeout = milliseconds(300);
  auto w = MustWatch(*s, o);
  std::atomic<int> ready_calls{0};
  w->SetReadyCallback([&] { ready_calls++; });
  EXPECT_EQ(ready_calls.load(), 0);  // nothing queued yet
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  EXPECT_EQ(ready_calls.load(), 1);
  auto start = std::chrono::steady_clock::now();
  Event e;
  ASSERT_TRUE(w->WaitNext(&e, milliseconds(5000)));  // queued events survive a timeout
  EXPECT_FALSE(w->WaitNext(&e, milliseconds(5000)));
  EXPECT_EQ(w->end(), Watcher::End::kTimeout);
  // The end is signalled too; the timer thread runs the callback just after
  // it wakes WaitNext, so allow it a moment.
  for (int i = 0; i < 5000 && ready_calls.load() < 2; ++i) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_EQ(ready_calls.load(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(4000));
  EXPECT_EQ(s->Stats().active_watchers, 0u);
  EXPECT_EQ(s->Stats().watchers_evicted, 0u);
}

// S18, S19, S33: a watch that timed out with events still queued delivers
// them, and until they are taken it holds its watcher slot (its queue is a
// watcher's memory); shutdown ends it with kShutdown like every other watch.
// A watch from 100 that timed out with the event of "a"'s creation queued.
std::shared_ptr<Watcher> TimedOutWithAnEventQueued(Store& s) {
  WatchOptions wo = From(100);
  wo.timeout = milliseconds(30);
  auto w = MustWatch(s, wo);
  EXPECT_TRUE(Create(s, Key("ns", "a")).ok());
  for (int i = 0; i < 5000 && w->end() != Watcher::End::kTimeout; ++i) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_EQ(w->end(), Watcher::End::kTimeout);
  return w;
}

TEST_P(StoreWatch, TimedOutWatchHoldsItsSlotUntilDrainedS18S19S33) {
  auto o = SmallOptions();
  o.max_watchers = 1;
  auto s = OpenStore(o);
  auto w = TimedOutWithAnEventQueued(*s);
  ASSERT_EQ(w->end(), Watcher::End::kTimeout);
  EXPECT_EQ(s->Stats().active_watchers, 1u);
  auto refused = s->Watch({});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  Event e;
  ASSERT_TRUE(w->Next(&e));
  EXPECT_EQ(e.revision, 101u);
  EXPECT_EQ(s->Stats().active_watchers, 0u);
  EXPECT_TRUE(s->Watch({}).ok());
}

TEST_P(StoreWatch, ShutdownEndsATimedOutWatchStillDeliveringS18) {
  auto s = OpenStore();
  auto w = TimedOutWithAnEventQueued(*s);
  ASSERT_EQ(w->end(), Watcher::End::kTimeout);
  std::atomic<int> ready_calls{0};
  w->SetReadyCallback([&] { ready_calls++; });
  const int before = ready_calls.load();  // 1: it has an event
  s->Shutdown();
  EXPECT_EQ(w->end(), Watcher::End::kShutdown);
  EXPECT_EQ(ready_calls.load(), before + 1);  // the stream is told
  Event e;
  EXPECT_FALSE(w->Next(&e));
}

// S15, S32: a watcher whose queue is full of bookmarks (its client stopped
// reading on a quiet node) costs the timer nothing: it waits for the next
// interval instead of trying again at once, forever.
TEST_P(StoreWatch, FullQueueOfBookmarksDoesNotSpinTheTimerS15S32) {
  auto o = SmallOptions();
  o.bookmark_interval = milliseconds(5);
  o.watcher_queue_capacity = 2;
  auto s = OpenStore(o);
  WatchOptions wo = From(100);
  wo.allow_bookmarks = true;
  auto w = MustWatch(*s, wo);  // never read
  std::this_thread::sleep_for(milliseconds(100));  // two bookmarks fill the queue
  auto cpu = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return milliseconds(t.tv_sec * 1000 + t.tv_nsec / 1000000);
  };
  const auto before = cpu();
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_LT(cpu() - before, milliseconds(100)) << "the store's timer thread spun";
  Event e;
  ASSERT_TRUE(w->Next(&e));
  EXPECT_EQ(e.type, EventType::kBookmark);
}

// S18: shutdown ends every watch with kShutdown and wakes waiters.
TEST_P(StoreWatch, ShutdownEndsAllWatchesS18) {
  auto s = OpenStore();
  auto w1 = MustWatch(*s, From(100));
  auto w2 = MustWatch(*s, WatchOptions{});
  std::atomic<int> ready_calls{0};
  w2->SetReadyCallback([&] { ready_calls++; });
  auto waiting = std::async(std::launch::async, [&] {
    Event e;
    return w1->WaitNext(&e, milliseconds(10000));
  });
  std::this_thread::sleep_for(milliseconds(20));
  s->Shutdown();
  EXPECT_FALSE(waiting.get());
  EXPECT_EQ(w1->end(), Watcher::End::kShutdown);
  EXPECT_EQ(w2->end(), Watcher::End::kShutdown);
  EXPECT_EQ(ready_calls.load(), 1);
  EXPECT_EQ(s->Watch({}).error().code, ErrorCode::kUnavailable);
}

// S19: watcher limit; Cancel frees the slot.
TEST_P(StoreWatch, WatcherLimitAndCancelFreesSlotS19) {
  auto o = SmallOptions();
  o.max_watchers = 2;
  auto s = OpenStore(o);
  auto w1 = MustWatch(*s, {});
  auto w2 = MustWatch(*s, {});
  auto w3 = s->Watch({});
  ASSERT_FALSE(w3.ok());
  EXPECT_EQ(w3.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(w3.error().message.find("too many watchers"), std::string::npos);
  EXPECT_EQ(s->Stats().active_watchers, 2u);
  w1->Cancel();
  w1->Cancel();  // idempotent
  EXPECT_EQ(w1->end(), Watcher::End::kCancelled);
  EXPECT_EQ(s->Stats().active_watchers, 1u);
  EXPECT_TRUE(s->Watch({}).ok());
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  Event e;
  EXPECT_FALSE(w1->Next(&e));  // a cancelled watcher gets nothing more
}

// Watchers may outlive the store: no dangling pointer into it.
TEST_P(StoreWatch, WatcherOutlivesStore) {
  std::shared_ptr<Watcher> w;
  {
    auto s = OpenStore();
    ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
    w = MustWatch(*s, WatchOptions{});
  }
  EXPECT_EQ(w->end(), Watcher::End::kShutdown);
  Event e;
  EXPECT_FALSE(w->Next(&e));
  w->SetReadyCallback([] {});
  w->Cancel();
  EXPECT_EQ(w->end(), Watcher::End::kShutdown);
}

TEST_P(StoreWatch, ReadyCallbackOnEmptyToNonEmpty) {
  auto s = OpenStore();
  auto w = MustWatch(*s, From(100));
  std::atomic<int> calls{0};
  w->SetReadyCallback([&] { calls++; });
  EXPECT_EQ(calls.load(), 0);  // nothing queued yet
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  EXPECT_EQ(calls.load(), 1);
  ASSERT_TRUE(Create(*s, Key("ns", "b")).ok());
  EXPECT_EQ(calls.load(), 1);  // still not drained: no new transition
  EXPECT_EQ(Drain(*w).size(), 2u);
  ASSERT_TRUE(Create(*s, Key("ns", "c")).ok());
  EXPECT_EQ(calls.load(), 2);
  auto st = s->Stats();
  EXPECT_EQ(st.events_delivered, 2u);
}

// HasNext says whether Next would return an event, without taking it: the
// stream reactor holds a write back only while another one waits (S12).
TEST_P(StoreWatch, HasNextTellsWhetherAnotherEventWaitsS12) {
  auto s = OpenStore();
  auto w = MustWatch(*s, From(100));
  EXPECT_FALSE(w->HasNext());
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  ASSERT_TRUE(Create(*s, Key("ns", "b")).ok());
  EXPECT_TRUE(w->HasNext());
  EXPECT_TRUE(w->HasNext());  // asking takes nothing
  Event e;
  ASSERT_TRUE(w->Next(&e));
  EXPECT_EQ(e.revision, 101u);
  EXPECT_TRUE(w->HasNext());
  ASSERT_TRUE(w->Next(&e));
  EXPECT_EQ(e.revision, 102u);
  EXPECT_FALSE(w->HasNext());
  EXPECT_FALSE(w->Next(&e));
  ASSERT_TRUE(Create(*s, Key("ns", "c")).ok());
  EXPECT_TRUE(w->HasNext());
  w->Cancel();
  EXPECT_FALSE(w->HasNext());  // a cancelled watch has nothing left
}

}  // namespace
}  // namespace deviceapi::store
