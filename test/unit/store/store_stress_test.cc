// Concurrency stress, meaningful under TSan: writers, readers, watchers with
// small queues that get evicted and resume (S16 + S12), exact lists (S9),
// cancels and stats, all at once. Every watcher chain must see each event of
// its filter exactly once and in order.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT
using std::chrono::milliseconds;

class StoreStress : public BackendTest {};
DEVICEAPI_ON_ALL_BACKENDS(StoreStress);

TEST_P(StoreStress, ConcurrentWritersReadersAndResumingWatchers) {
  auto o = SmallOptions();
  o.watcher_queue_capacity = 64;  // small: evictions happen, resumes must repair them
  o.history_max_events = 1 << 20;
  o.future_revision_wait = milliseconds(2000);
  o.bookmark_interval = milliseconds(5);
  auto s = OpenStore(o);
  constexpr int kKeys = 32;
  constexpr int kWritesPerWriter = 3000;
  for (int k = 0; k < kKeys; ++k) {
    ASSERT_TRUE(Create(*s, Key(k % 2 ? "odd" : "even", "k" + std::to_string(k)), {{"parity", k % 2 ? "odd" : "even"}}).ok());
  }
  const Revision start = s->CurrentRevision();
  std::atomic<int> writers_done{0};
  std::vector<std::thread> threads;

  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerWriter; ++i) {
        int k = (i * 3 + t) % kKeys;
        auto key = Key(k % 2 ? "odd" : "even", "k" + std::to_string(k));
        Update(*s, key, std::to_string(t * kWritesPerWriter + i));
      }
      writers_done++;
    });
  }
  // Readers: Get, List, exact List, Stats.
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (writers_done.load() < 3) {
        Revision now = s->CurrentRevision();
        auto g = s->Get(Key("even", "k0"), GetOptions{now});
        EXPECT_TRUE(g.ok());
        ListOptions lo;
        lo.namespace_name = "odd";
        auto l = s->List(lo);
        ASSERT_TRUE(l.ok());
        EXPECT_EQ(l->items.size(), static_cast<std::size_t>(kKeys / 2));
        EXPECT_GE(l->revision, now);
        lo.exact = true;
        lo.revision = now;
        auto past = s->List(lo);
        ASSERT_TRUE(past.ok()) << past.error().message;
        for (const auto& obj : past->items) EXPECT_LE(obj->revision(), now);
        (void)s->Stats();
      }
    });
  }
  // Watchers: each resumes from last_revision() whenever evicted; one uses
  // a selector, one a namespace; an extra one is created and cancelled in a loop.
  std::vector<std::vector<Revision>> seen(3);
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      WatchOptions wo;
      wo.start = start;
      wo.allow_bookmarks = true;
      if (t == 1) wo.selector = *labels::Selector::Parse("parity=odd");
      if (t == 2) wo.namespace_name = "even";
      Revision last = start;
      auto w = *s->Watch(wo);
      std::atomic<int> ready{0};
      w->SetReadyCallback([&] { ready++; });
      Event e;
      while (true) {
        // Done once the writers are and this chain reached the final
        // revision (idle bookmarks carry it to filtered chains too).
        if (writers_done.load() == 3 && last >= s->CurrentRevision()) break;
        if (w->WaitNext(&e, milliseconds(20))) {
          if (e.type == EventType::kBookmark) {
            EXPECT_GE(e.revision, last);
          } else {
            EXPECT_GT(e.revision, last);
            seen[t].push_back(e.revision);
            if (t == 1) {
              EXPECT_EQ(e.object->labels().at("parity"), "odd");
            }
            if (t == 2) {
              EXPECT_EQ(e.object->key().namespace_name, "even");
            }
          }
          last = e.revision;
          if (seen[t].size() % 97 == 0) std::this_thread::sleep_for(milliseconds(1));  // be slow now and then
          continue;
        }
        if (w->end() == Watcher::End::kTooSlow) {
          wo.start = w->last_revision() == 0 ? wo.start : w->last_revision();
          auto again = s->Watch(wo);
          ASSERT_TRUE(again.ok()) << again.error().message;
          w = *again;
          w->SetReadyCallback([&] { ready++; });
          continue;
        }
        if (writers_done.load() == 3 && w->end() != Watcher::End::kNone) break;
      }
      w->Cancel();
    });
  }
  threads.emplace_back([&] {
    while (writers_done.load() < 3) {
      auto w = s->Watch(WatchOptions{});
      ASSERT_TRUE(w.ok());
      Event e;
      (*w)->Next(&e);
      (*w)->Cancel();
    }
  });
  for (auto& th : threads) th.join();

  // Every event after `start` exactly once per matching watcher.
  const Revision end = s->CurrentRevision();
  EXPECT_EQ(end, start + 3 * kWritesPerWriter);
  ASSERT_EQ(seen[0].size(), static_cast<std::size_t>(end - start));
  for (std::size_t i = 0; i < seen[0].size(); ++i) ASSERT_EQ(seen[0][i], start + 1 + i);
  // Odd and even keys are written alternately by the same formula, so the
  // two filtered chains together are exactly the full chain.
  std::vector<Revision> merged(seen[1]);
  merged.insert(merged.end(), seen[2].begin(), seen[2].end());
  std::sort(merged.begin(), merged.end());
  EXPECT_EQ(merged, seen[0]);
  auto st = s->Stats();
  EXPECT_EQ(st.active_watchers, 0u);
  EXPECT_EQ(st.updates, static_cast<std::uint64_t>(3 * kWritesPerWriter));
}

}  // namespace
}  // namespace deviceapi::store
