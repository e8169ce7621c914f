// Reads: writer preference (S8), revisions and waits (S9), list order and
// filters (S10, S17), immutable results (S11).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <thread>

#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT
using std::chrono::milliseconds;

class StoreRead : public BackendTest {};
DEVICEAPI_ON_ALL_BACKENDS(StoreRead);

template <typename Pred>
void SpinUntil(Pred pred) {
  while (!pred()) std::this_thread::yield();
}

// S8: a read that arrives while a write is being applied waits for it and
// returns the new state, never the one before. Deterministic: the write is
// held mid-apply by the test hook until the reader is provably blocked.
TEST_P(StoreRead, ReadArrivingDuringWriteWaitsAndSeesItS8) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "old").ok());
  std::latch entered(1), release(1);
  s->SetWriteHookForTesting([&] {
    entered.count_down();
    release.wait();
  });
  std::thread writer([&] { ASSERT_TRUE(Update(*s, Key("ns", "a"), "new").ok()); });
  entered.wait();  // the write is now being applied, under the write lock

  std::atomic<bool> get_done{false}, list_done{false};
  std::string get_saw, list_saw;
  Revision list_rev = 0;
  std::thread getter([&] {
    auto g = s->Get(Key("ns", "a"));
    get_saw = As(*g).data();
    get_done = true;
  });
  std::thread lister([&] {
    auto l = s->List();
    list_saw = As(l->items.at(0)).data();
    list_rev = l->revision;
    list_done = true;
  });
  // Both reads are blocked on the store lock, not merely slow.
  SpinUntil([&] { return s->WaitingReadersForTesting() == 2; });
  EXPECT_FALSE(get_done.load());
  EXPECT_FALSE(list_done.load());

  s->SetWriteHookForTesting(nullptr);
  release.count_down();
  writer.join();
  getter.join();
  lister.join();
  EXPECT_EQ(get_saw, "new");
  EXPECT_EQ(list_saw, "new");
  EXPECT_EQ(list_rev, 102u);
}

// S8: a read that starts after a write was acknowledged sees it.
TEST_P(StoreRead, ReadAfterAcknowledgedWriteSeesItS8) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "0").ok());
  std::atomic<int> acked{0};
  std::thread writer([&] {
    for (int i = 1; i <= 300; ++i) {
      ASSERT_TRUE(Update(*s, Key("ns", "a"), std::to_string(i)).ok());
      acked = i;
    }
  });
  for (int n = 0; n < 300; ++n) {
    int before = acked.load();
    auto g = s->Get(Key("ns", "a"));
    ASSERT_TRUE(g.ok());
    EXPECT_GE(std::stoi(As(*g).data()), before);
  }
  writer.join();
}

// S9
TEST_P(StoreRead, MinRevisionAtOrBelowCurrentServesCurrentS9) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "v1").ok());
  ASSERT_TRUE(Update(*s, Key("ns", "a"), "v2").ok());
  for (Revision r : {Revision{0}, Revision{1}, Revision{101}, Revision{102}}) {
    auto g = s->Get(Key("ns", "a"), GetOptions{r});
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(As(*g).data(), "v2");
    ListOptions lo;
    lo.revision = r;
    auto l = s->List(lo);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->revision, 102u);
  }
}

// S9: a future revision is waited for; a write arriving during the wait satisfies it.
TEST_P(StoreRead, FutureRevisionWaitSucceedsWhenWriteArrivesS9) {
  auto o = SmallOptions();
  o.future_revision_wait = milliseconds(10000);
  auto s = OpenStore(o);
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "v1").ok());  // 101
  auto get = std::async(std::launch::async, [&] { return s->Get(Key("ns", "a"), GetOptions{102}); });
  auto list = std::async(std::launch::async, [&] {
    ListOptions lo;
    lo.revision = 102;
    return s->List(lo);
  });
  EXPECT_EQ(get.wait_for(milliseconds(50)), std::future_status::timeout);  // it is waiting
  ASSERT_TRUE(Update(*s, Key("ns", "a"), "v2").ok());                      // 102
  auto g = get.get();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(As(*g).data(), "v2");
  auto l = list.get();
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->revision, 102u);
}

// S9: without that write the wait ends with "too large resource version".
TEST_P(StoreRead, FutureRevisionTimesOutS9) {
  auto o = SmallOptions();
  o.future_revision_wait = milliseconds(100);
  auto s = OpenStore(o);
  auto start = std::chrono::steady_clock::now();
  auto g = s->Get(Key("ns", "a"), GetOptions{500});
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kTooLargeRevision);
  EXPECT_EQ(g.error().message.rfind("too large resource version", 0), 0u);
  EXPECT_GE(waited, milliseconds(100));
  ListOptions lo;
  lo.revision = 500;
  EXPECT_EQ(s->List(lo).error().code, ErrorCode::kTooLargeRevision);
  lo.exact = true;
  EXPECT_EQ(s->List(lo).error().code, ErrorCode::kTooLargeRevision);
}

// S9: exact lists rebuild the past state from history.
TEST_P(StoreRead, ExactListServesStateAtRevisionS9) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "a1").ok());  // 101
  ASSERT_TRUE(Create(*s, Key("ns", "b"), {}, "b1").ok());  // 102
  ASSERT_TRUE(Update(*s, Key("ns", "a"), "a2").ok());      // 103
  ASSERT_TRUE(Delete(*s, Key("ns", "b")).ok());            // 104
  ASSERT_TRUE(Create(*s, Key("ns", "c"), {}, "c1").ok());  // 105

  auto at = [&](Revision r) {
    ListOptions lo;
    lo.revision = r;
    lo.exact = true;
    auto l = s->List(lo);
    EXPECT_TRUE(l.ok());
    EXPECT_EQ(l->revision, r);
    std::string out;
    for (const auto& o : l->items) out += o->key().name + "=" + As(o).data() + ";";
    return out;
  };
  EXPECT_EQ(at(100), "");
  EXPECT_EQ(at(101), "a=a1;");
  EXPECT_EQ(at(102), "a=a1;b=b1;");
  EXPECT_EQ(at(103), "a=a2;b=b1;");
  EXPECT_EQ(at(104), "a=a2;");
  EXPECT_EQ(at(105), "a=a2;c=c1;");
  ListOptions lo;
  lo.revision = 99;
  lo.exact = true;
  auto old = s->List(lo);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code, ErrorCode::kExpired);
  EXPECT_EQ(old.error().message, "too old resource version: 99 (oldest retained: 100)");
}

// S9 + S14: once history is trimmed, exact lists before it are expired.
TEST_P(StoreRead, ExactListExpiredAfterTrimS9) {
  auto o = SmallOptions();
  o.history_max_events = 2;
  auto s = OpenStore(o);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Create(*s, Key("ns", "o" + std::to_string(i))).ok());  // 101..105
  ListOptions lo;
  lo.exact = true;
  lo.revision = 102;
  auto l = s->List(lo);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, ErrorCode::kExpired);
  EXPECT_EQ(l.error().message.rfind("too old resource version: 102", 0), 0u);
  lo.revision = 103;
  l = s->List(lo);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->items.size(), 3u);
}

// S10, S17
TEST_P(StoreRead, ListSortedFilteredAndAtSnapshotRevisionS10) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("b", "z"), {{"gpu", "h100"}}).ok());
  ASSERT_TRUE(Create(*s, Key("a", "y"), {{"gpu", "a100"}}).ok());
  ASSERT_TRUE(Create(*s, Key("ab", "x"), {{"gpu", "h100"}}).ok());
  ASSERT_TRUE(Create(*s, Key("a", "b"), {{"gpu", "h100"}}).ok());
  ASSERT_TRUE(Create(*s, Key("a", "a2"), {}).ok());
  auto names = [](const ListResult& l) {
    std::string out;
    for (const auto& o : l.items) out += o->key().namespace_name + "/" + o->key().name + " ";
    return out;
  };
  auto all = s->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(names(*all), "a/a2 a/b a/y ab/x b/z ");
  EXPECT_EQ(all->revision, s->CurrentRevision());

  ListOptions lo;
  lo.namespace_name = "a";  // S17: never "ab"
  EXPECT_EQ(names(*s->List(lo)), "a/a2 a/b a/y ");
  lo.selector = *labels::Selector::Parse("gpu=h100");
  EXPECT_EQ(names(*s->List(lo)), "a/b ");
  lo.namespace_name = "";
  EXPECT_EQ(names(*s->List(lo)), "a/b ab/x b/z ");
  lo.selector = *labels::Selector::Parse("!gpu");
  EXPECT_EQ(names(*s->List(lo)), "a/a2 ");
  lo.namespace_name = "missing";
  lo.selector = {};
  EXPECT_TRUE(s->List(lo)->items.empty());
}

// S11: results are immutable snapshots; later writes do not change them.
TEST_P(StoreRead, ReturnedObjectsNeverChangeS11) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {{"k", "1"}}, "v1").ok());
  auto g = s->Get(Key("ns", "a"));
  auto l = s->List();
  ASSERT_TRUE(g.ok() && l.ok());
  ASSERT_TRUE(Relabel(*s, Key("ns", "a"), {{"k", "2"}}).ok());
  ASSERT_TRUE(Update(*s, Key("ns", "a"), "v2").ok());
  EXPECT_EQ(As(*g).data(), "v1");
  EXPECT_EQ((*g)->labels().at("k"), "1");
  EXPECT_EQ((*g)->revision(), 101u);
  EXPECT_EQ(As(l->items[0]).data(), "v1");
  ASSERT_TRUE(Delete(*s, Key("ns", "a")).ok());
  EXPECT_EQ(As(*g).data(), "v1");  // still alive and unchanged after the delete
  // The pointer type is const: callers cannot mutate a stored object.
  static_assert(std::is_same_v<ObjectPtr, std::shared_ptr<const Object>>);
}

}  // namespace
}  // namespace deviceapi::store
