// Writes: revisions (S1, S2), delete events (S7), limits (S19), errors,
// backend commit and load.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT

class StoreWrite : public BackendTest {};
DEVICEAPI_ON_ALL_BACKENDS(StoreWrite);

// S1
TEST_P(StoreWrite, EachWriteTakesTheNextRevisionS1) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->CurrentRevision(), 100u);
  auto a = Create(*s, Key("ns", "a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->revision(), 101u);
  auto b = Create(*s, Key("ns", "b"));
  EXPECT_EQ((*b)->revision(), 102u);
  auto u = Update(*s, Key("ns", "a"), "x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ((*u)->revision(), 103u);
  auto d = Delete(*s, Key("ns", "b"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->revision(), 104u);
  EXPECT_EQ(s->CurrentRevision(), 104u);
  auto st = s->Stats();
  EXPECT_EQ(st.creates, 2u);
  EXPECT_EQ(st.updates, 1u);
  EXPECT_EQ(st.deletes, 1u);
  EXPECT_EQ(st.objects, 1u);
  EXPECT_EQ(st.current_revision, 104u);
  EXPECT_EQ(st.history_events, 4u);
  EXPECT_EQ(st.oldest_retained_revision, 101u);
  EXPECT_GT(st.history_bytes, 0u);
}

// S1: a no-op update and a failed callback take no revision and emit no event.
TEST_P(StoreWrite, NoOpAndFailedWritesTakeNoRevisionS1) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "same").ok());
  WatchOptions wo;
  wo.start = s->CurrentRevision();
  auto w = s->Watch(wo);
  ASSERT_TRUE(w.ok());
  const Revision before = s->CurrentRevision();

  auto noop = Update(*s, Key("ns", "a"), "same");
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ((*noop)->revision(), before);
  EXPECT_EQ(s->CurrentRevision(), before);

  auto failed = s->Update(Key("ns", "a"), [](const ObjectPtr&, Revision) -> Result<ObjectPtr> {
    return MakeError(ErrorCode::kConflict, "resource_version mismatch");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kConflict);
  auto failed_create = s->Create(Key("ns", "b"), [](Revision) -> Result<ObjectPtr> {
    return MakeError(ErrorCode::kInvalid, "bad name");
  });
  ASSERT_FALSE(failed_create.ok());
  EXPECT_EQ(failed_create.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(s->CurrentRevision(), before);
  EXPECT_EQ(s->Stats().noop_updates, 1u);

  Event e;
  EXPECT_FALSE((*w)->Next(&e));  // nothing was emitted
  auto real = Update(*s, Key("ns", "a"), "changed");
  EXPECT_EQ((*real)->revision(), before + 1);  // the failed writes left no gap
  ASSERT_TRUE((*w)->Next(&e));
  EXPECT_EQ(e.revision, before + 1);
}

// S2: the counter is seeded from the clock, so a second store (a restarted
// process in memory mode) starts above everything the first one issued.
TEST(StoreRevisionSeed, RevisionsNeverRepeatAcrossStoresS2) {
  Revision last_of_first = 0;
  {
    StoreOptions o;  // initial_revision 0: clock seed
    Store first(o);
    ASSERT_TRUE(first.Open().ok());
    auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    EXPECT_LE(first.CurrentRevision(), static_cast<Revision>(now_us) + 60'000'000);
    EXPECT_GT(first.CurrentRevision(), static_cast<Revision>(now_us) - 60'000'000);  // within a minute
    for (int i = 0; i < 2000; ++i) {  // faster than one per microsecond is fine too
      auto r = Create(first, Key("ns", "o" + std::to_string(i)));
      ASSERT_TRUE(r.ok());
      last_of_first = (*r)->revision();
    }
  }
  StoreOptions o;
  Store second(o);
  ASSERT_TRUE(second.Open().ok());
  auto r = Create(second, Key("ns", "a"));
  ASSERT_TRUE(r.ok());
  EXPECT_GT((*r)->revision(), last_of_first);
  // An old client's version is "too old" for the new store, never a silent match.
  WatchOptions wo;
  wo.start = last_of_first;
  auto w = second.Watch(wo);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kExpired);
}

// S7
TEST_P(StoreWrite, DeletedEventCarriesLastStateAtDeletionRevisionS7) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {{"k", "v"}}, "last").ok());
  WatchOptions wo;
  wo.start = s->CurrentRevision();
  auto w = s->Watch(wo);
  ASSERT_TRUE(w.ok());
  auto d = Delete(*s, Key("ns", "a"));
  ASSERT_TRUE(d.ok());
  Event e;
  ASSERT_TRUE((*w)->Next(&e));
  EXPECT_EQ(e.type, EventType::kDeleted);
  EXPECT_EQ(e.revision, s->CurrentRevision());
  EXPECT_EQ(e.object->revision(), e.revision);
  EXPECT_EQ(As(e.object).data(), "last");
  EXPECT_EQ(e.object->labels().at("k"), "v");
  ASSERT_TRUE(e.previous);
  EXPECT_LT(e.previous->revision(), e.revision);
  auto g = s->Get(Key("ns", "a"));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreWrite, ExistenceErrors) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  auto dup = Create(*s, Key("ns", "a"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto upd = Update(*s, Key("ns", "missing"), "x");
  ASSERT_FALSE(upd.ok());
  EXPECT_EQ(upd.error().code, ErrorCode::kNotFound);
  auto del = Delete(*s, Key("ns", "missing"));
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error().code, ErrorCode::kNotFound);
  // A callback that breaks the contract (wrong revision) is an internal error, not a corrupt store.
  auto bad = s->Update(Key("ns", "a"), [](const ObjectPtr& cur, Revision next) -> Result<ObjectPtr> {
    return ObjectPtr(std::make_shared<TestObject>(cur->key(), cur->labels(), next + 7, "x"));
  });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInternal);
  EXPECT_EQ(s->CurrentRevision(), 101u);
}

// S19
TEST_P(StoreWrite, ObjectLimitIsResourceExhaustedS19) {
  auto o = SmallOptions();
  o.max_objects = 3;
  auto s = OpenStore(o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Create(*s, Key("ns", "o" + std::to_string(i))).ok());
  auto r = Create(*s, Key("ns", "o3"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(r.error().message.find("too many objects"), std::string::npos);
  EXPECT_NE(r.error().message.find("3"), std::string::npos);
  EXPECT_EQ(s->CurrentRevision(), 103u);
  ASSERT_TRUE(Delete(*s, Key("ns", "o0")).ok());
  EXPECT_TRUE(Create(*s, Key("ns", "o3")).ok());  // room again after a delete
}

class RecordingBackend : public Backend {
 public:
  Result<Snapshot> Load() override { return snapshot; }
  Result<bool> Commit(const std::vector<Event>& events, Revision) override {
    if (fail_next) {
      fail_next = false;
      return MakeError(ErrorCode::kInternal, "disk full");
    }
    for (const Event& e : events) committed.push_back(e.revision);
    return true;
  }
  bool Durable() const override { return durable; }
  const char* Name() const override { return "recording"; }
  Snapshot snapshot;
  bool durable = false;  // true: the group-commit path
  bool fail_next = false;
  std::vector<Revision> committed;
};

TEST(StoreBackendHooks, BackendLoadsAndCommitsBeforeVisibility) {
  auto backend = std::make_shared<RecordingBackend>();
  backend->snapshot.revision = 500;
  backend->snapshot.objects.push_back(std::make_shared<TestObject>(Key("ns", "loaded"), Labels{}, 450));
  auto o = SmallOptions();
  o.backend = backend;
  auto s = OpenStore(o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->CurrentRevision(), 500u);  // max(seed 100, snapshot 500)
  EXPECT_TRUE(s->Get(Key("ns", "loaded")).ok());
  EXPECT_STREQ(s->options().backend->Name(), "recording");

  backend->fail_next = true;
  auto r = Create(*s, Key("ns", "a"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  EXPECT_FALSE(s->Get(Key("ns", "a")).ok());  // never became visible
  EXPECT_EQ(s->CurrentRevision(), 500u);
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  EXPECT_EQ(backend->committed, std::vector<Revision>{501});
}

// Keys of a write base, sorted.
std::vector<std::string> Names(const std::vector<ObjectPtr>& objects) {
  std::vector<std::string> names;
  for (const auto& o : objects) names.push_back(o->key().name);
  std::sort(names.begin(), names.end());
  return names;
}

// S26, S33: a write whose callback ran (admission saw it) and that is then
// not made, because the store's byte bound refused it or its commit failed,
// is reported to the write-aborted hook with the objects the next write
// builds on; refusals before the callback (not found, exists) are not.
class StoreWriteAborted : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Paths, StoreWriteAborted, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "group_commit" : "direct"; });

TEST_P(StoreWriteAborted, HookSeesEveryWriteNotMadeAfterItsCallbackS26S33) {
  auto backend = std::make_shared<RecordingBackend>();
  backend->durable = GetParam();
  auto o = SmallOptions();
  o.backend = backend;
  o.max_total_object_bytes = 3 * sizeof(TestObject) + 300;
  auto s = OpenStore(o);
  ASSERT_TRUE(s);
  std::vector<std::vector<std::string>> calls;
  std::vector<Revision> bases;  // the revision the next write builds on, at each call
  s->SetWriteAbortedHook([&](const std::vector<ObjectPtr>& base, Revision base_revision) {
    calls.push_back(Names(base));
    bases.push_back(base_revision);
  });
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, std::string(100, 'x')).ok());
  ASSERT_TRUE(Create(*s, Key("ns", "b"), {}, std::string(100, 'x')).ok());
  EXPECT_TRUE(calls.empty());

  EXPECT_EQ(Update(*s, Key("ns", "missing"), "x").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Create(*s, Key("ns", "a")).error().code, ErrorCode::kAlreadyExists);
  EXPECT_TRUE(calls.empty()) << "refused before the callback ran";

  backend->fail_next = true;
  EXPECT_FALSE(Create(*s, Key("ns", "c")).ok());
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(bases[0], s->CurrentRevision());

  auto refused = Create(*s, Key("ns", "d"), {}, std::string(1000, 'x'));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(bases[1], s->CurrentRevision()) << "the refused write's revision is the next write's";

  ASSERT_TRUE(Delete(*s, Key("ns", "b")).ok());
  backend->fail_next = true;
  EXPECT_FALSE(Delete(*s, Key("ns", "a")).ok());
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2], std::vector<std::string>{"a"});
  EXPECT_EQ(bases[2], s->CurrentRevision());

  s->SetWriteAbortedHook(nullptr);  // cleared: no call
  backend->fail_next = true;
  EXPECT_FALSE(Create(*s, Key("ns", "e")).ok());
  EXPECT_EQ(calls.size(), 3u);
}

// A durable backend whose commits wait while the gate is closed, and fail
// when told to.
class GatedBackend : public Backend {
 public:
  Result<Snapshot> Load() override { return Snapshot{}; }
  Result<bool> Commit(const std::vector<Event>& events, Revision) override {
    std::unique_lock<std::mutex> l(mu);
    batches.emplace_back();
    for (const Event& e : events) batches.back().push_back(e.revision);
    cv.notify_all();
    cv.wait(l, [this] { return open || allowed > 0; });
    if (!open) --allowed;
    if (fail) {
      fail = false;  // the next commit succeeds
      return MakeError(ErrorCode::kUnavailable, "disk full");
    }
    return true;
  }
  bool Durable() const override { return true; }
  const char* Name() const override { return "gated"; }
  void Set(bool is_open, bool fails) {
    std::lock_guard<std::mutex> l(mu);
    open = is_open;
    fail = fails;
    cv.notify_all();
  }
  // While closed, lets the next `n` commits through.
  void Allow(std::size_t n) {
    std::lock_guard<std::mutex> l(mu);
    allowed += n;
    cv.notify_all();
  }
  void AwaitBatches(std::size_t n) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return batches.size() >= n; });
  }
  std::vector<std::vector<Revision>> Batches() {
    std::lock_guard<std::mutex> l(mu);
    return batches;
  }
  std::mutex mu;
  std::condition_variable cv;
  bool open = true, fail = false;
  std::size_t allowed = 0;
  std::vector<std::vector<Revision>> batches;
};

// The answers of asynchronous writes, in the order they came.
struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, Result<ObjectPtr>>> got;
  Store::WriteDone For(std::string label) {
    return [this, label](Result<ObjectPtr> r) {
      std::lock_guard<std::mutex> l(mu);
      got.emplace_back(label, std::move(r));
      cv.notify_all();
    };
  }
  std::size_t Count() {
    std::lock_guard<std::mutex> l(mu);
    return got.size();
  }
  void AwaitCount(std::size_t n) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return got.size() >= n; });
  }
};

UpdateFn SetData(const ObjectKey& key, std::string data) {
  return [key, data](const ObjectPtr& cur, Revision next) -> Result<ObjectPtr> {
    if (As(cur).data() == data) return cur;
    return ObjectPtr(std::make_shared<TestObject>(key, cur->labels(), next, data));
  };
}

// A store on a gated backend whose first asynchronous write is held in its
// commit by a stalled disk, on a thread of its own.
class StoreAsyncWrite : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = SmallOptions();
    o.backend = backend;
    s = OpenStore(o);
    ASSERT_TRUE(s);
  }
  void TearDown() override {
    if (first.joinable()) first.join();
  }
  // Starts an update that answers under `label`.
  void Write(const std::string& name, const std::string& data, std::string label) {
    s->UpdateAsync(Key("ns", name), SetData(Key("ns", name), data), Store::ByteBound::kApplies,
                   answers.For(std::move(label)));
  }
  // Stalls the disk (its commit then fails if `fails`) and starts the first
  // write, which commits on its own thread; returns once it is committing.
  void StallFirstWrite(const std::string& name, const std::string& data, std::string label, bool fails) {
    base = s->CurrentRevision();
    batches_before = backend->Batches().size();
    backend->Set(false, fails);
    first = std::thread([this, name, data, label] { Write(name, data, label); });
    backend->AwaitBatches(batches_before + 1);
  }

  std::shared_ptr<GatedBackend> backend = std::make_shared<GatedBackend>();
  std::unique_ptr<Store> s;
  Answers answers;
  std::thread first;
  Revision base = 0;
  std::size_t batches_before = 0;
};

// S32, S24: with a durable backend, an asynchronous write returns at once
// while an earlier commit runs; it is answered once its own batch committed
// and became visible, in revision order within its batch, the writes that
// queued meanwhile sharing one commit. A no-op on a state still committing is
// answered with that state once it is durable.
TEST_F(StoreAsyncWrite, WritesQueuedBehindACommitAreAnsweredAfterTheirBatchS24S32) {
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(Create(*s, Key("ns", name)).ok());
  StallFirstWrite("a", "1", "a1", false);
  Write("b", "1", "b1");
  Write("a", "2", "a2");
  Write("b", "1", "b1-noop");
  Write("missing", "1", "missing");
  // Refusals are answered at once, on this thread; nothing else is.
  ASSERT_EQ(answers.Count(), 1u);
  EXPECT_EQ(answers.got[0].first, "missing");
  EXPECT_EQ(answers.got[0].second.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(s->CurrentRevision(), base);  // nothing uncommitted is visible
  EXPECT_EQ(As(*s->Get(Key("ns", "a"))).data(), "");

  backend->Set(true, false);
  answers.AwaitCount(5);
  first.join();
  // Batches are answered by the thread that committed them, each in
  // revision order; the first batch's thread and the committer thread may
  // answer in either order, both after their writes became visible.
  std::map<std::string, ObjectPtr> answered;
  std::vector<std::string> second_batch_order;
  for (const auto& [label, r] : answers.got) {
    if (label == "missing") continue;
    ASSERT_TRUE(r.ok()) << label << ": " << r.error().message;
    answered[label] = *r;
    if (label != "a1") second_batch_order.push_back(label);
  }
  ASSERT_EQ(answered.size(), 4u);
  EXPECT_EQ(second_batch_order, (std::vector<std::string>{"b1", "a2", "b1-noop"}));
  EXPECT_EQ(answered["a1"]->revision(), base + 1);
  EXPECT_EQ(answered["b1"]->revision(), base + 2);
  EXPECT_EQ(answered["a2"]->revision(), base + 3);
  EXPECT_EQ(answered["b1-noop"].get(), answered["b1"].get()) << "the no-op answers the state it matched";
  auto batches = backend->Batches();
  ASSERT_EQ(batches.size(), batches_before + 2);
  EXPECT_EQ(batches[batches_before], std::vector<Revision>{base + 1});
  EXPECT_EQ(batches[batches_before + 1], (std::vector<Revision>{base + 2, base + 3}));
  EXPECT_EQ(s->CurrentRevision(), base + 3);
  EXPECT_EQ(As(*s->Get(Key("ns", "a"))).data(), "2");
}

// S26: when the stalled commit fails, the writes queued behind it (built on
// its state) and a no-op waiting for it fail too, UNAVAILABLE; nothing is
// visible, and the next write succeeds from the last committed state.
TEST_F(StoreAsyncWrite, WritesQueuedBehindAFailedCommitFailS26) {
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  StallFirstWrite("a", "1", "a1", true);
  Write("a", "2", "a2");
  Write("a", "2", "a2-noop");
  EXPECT_EQ(answers.Count(), 0u);
  backend->Set(true, true);  // the stalled commit fails; later ones succeed
  answers.AwaitCount(3);
  first.join();
  for (const auto& [label, r] : answers.got) {
    ASSERT_FALSE(r.ok()) << label;
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << label;
  }
  EXPECT_EQ(s->CurrentRevision(), base);
  EXPECT_EQ(As(*s->Get(Key("ns", "a"))).data(), "");
  EXPECT_EQ(backend->Batches().size(), batches_before + 1) << "the queued write was never committed";
  auto after = Update(*s, Key("ns", "a"), "3");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->revision(), base + 1);
}

// S1, S24: a key deleted, created and deleted again in three batches stays
// deleted for every later write while the last delete is still committing,
// though the first delete became visible and the create too: a write then
// finds the object gone (Update: NotFound; Create: accepted), and no
// update brings it back after the last delete.
TEST_F(StoreAsyncWrite, KeyDeletedCreatedAndDeletedAcrossBatchesStaysDeletedS1S24) {
  constexpr std::size_t kMax = Backend::kMaxCommitEvents;
  const ObjectKey x = Key("ns", "x");
  ASSERT_TRUE(Create(*s, x, {}, "old").ok());
  ASSERT_TRUE(Create(*s, Key("ns", "filler")).ok());
  base = s->CurrentRevision();
  batches_before = backend->Batches().size();
  auto create_x = [x](std::string data) {
    return [x, data](Revision next) -> Result<ObjectPtr> {
      return ObjectPtr(std::make_shared<TestObject>(x, Labels{}, next, data));
    };
  };
  auto delete_x = [x](const ObjectPtr& cur, Revision next) -> Result<ObjectPtr> {
    return ObjectPtr(std::make_shared<TestObject>(x, cur->labels(), next, As(cur).data()));
  };
  backend->Set(false, false);
  first = std::thread([&] { s->DeleteAsync(x, delete_x, answers.For("delete-1")); });
  backend->AwaitBatches(batches_before + 1);
  // The next batch: the create and kMax - 1 updates; the one after it: the delete.
  s->CreateAsync(x, create_x("again"), answers.For("create"));
  for (std::size_t i = 1; i < kMax; ++i) {
    s->UpdateAsync(Key("ns", "filler"), SetData(Key("ns", "filler"), std::to_string(i)),
                   Store::ByteBound::kApplies, answers.For("filler"));
  }
  s->DeleteAsync(x, delete_x, answers.For("delete-2"));
  backend->Allow(2);  // the first delete and the create's batch; the last delete waits
  backend->AwaitBatches(batches_before + 3);
  ASSERT_EQ(backend->Batches()[batches_before + 1].size(), kMax);
  ASSERT_TRUE(s->Get(x).ok()) << "the create is visible, the last delete is not yet";

  // Refusals are answered at once, on this thread.
  s->UpdateAsync(x, SetData(x, "zombie"), Store::ByteBound::kApplies, answers.For("update"));
  {
    std::lock_guard<std::mutex> l(answers.mu);
    auto update = std::find_if(answers.got.begin(), answers.got.end(), [](const auto& a) { return a.first == "update"; });
    EXPECT_TRUE(update != answers.got.end() && !update->second.ok() &&
                update->second.error().code == ErrorCode::kNotFound)
        << "an update of an object whose delete is committing must find it gone";
  }
  s->CreateAsync(x, create_x("third"), answers.For("create-3"));
  backend->Set(true, false);
  answers.AwaitCount(kMax + 4);
  first.join();
  for (const auto& [label, r] : answers.got) {
    if (label != "update") {
      EXPECT_TRUE(r.ok()) << label << ": " << r.error().message;
    }
  }
  auto now = s->Get(x);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(As(*now).data(), "third");
  EXPECT_EQ((*now)->revision(), base + kMax + 3);
  EXPECT_EQ(s->CurrentRevision(), base + kMax + 3);
}

// A queue longer than the backend's batch (Backend::kMaxCommitEvents) is
// committed as several batches, one after another, each in revision order;
// every write is answered and the last state is visible (S24).
TEST_F(StoreAsyncWrite, LongQueueIsCommittedInBatchesOfTheBackendsBoundS24) {
  constexpr std::size_t kMax = Backend::kMaxCommitEvents;
  const std::size_t queued = 2 * kMax + 10;
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  StallFirstWrite("a", "0", "first", false);
  for (std::size_t i = 1; i <= queued; ++i) Write("a", std::to_string(i), "w" + std::to_string(i));
  backend->Set(true, false);
  answers.AwaitCount(queued + 1);
  first.join();
  for (const auto& [label, r] : answers.got) ASSERT_TRUE(r.ok()) << label << ": " << r.error().message;
  auto batches = backend->Batches();
  ASSERT_EQ(batches.size(), batches_before + 4);
  std::vector<std::size_t> sizes;
  Revision next = base + 1;
  for (std::size_t b = batches_before; b < batches.size(); ++b) {
    sizes.push_back(batches[b].size());
    for (Revision r : batches[b]) EXPECT_EQ(r, next++);
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, kMax, kMax, 10}));
  EXPECT_EQ(s->CurrentRevision(), base + queued + 1);
  EXPECT_EQ(As(*s->Get(Key("ns", "a"))).data(), std::to_string(queued));
}

TEST(StoreEventNames, EventTypeNames) {
  EXPECT_STREQ(EventTypeName(EventType::kAdded), "ADDED");
  EXPECT_STREQ(EventTypeName(EventType::kModified), "MODIFIED");
  EXPECT_STREQ(EventTypeName(EventType::kDeleted), "DELETED");
  EXPECT_STREQ(EventTypeName(EventType::kBookmark), "BOOKMARK");
}

TEST_P(StoreWrite, ShutdownRefusesLaterCalls) {
  auto s = OpenStore();
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());
  s->Shutdown();
  s->Shutdown();  // idempotent
  EXPECT_EQ(Create(*s, Key("ns", "b")).error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s->Get(Key("ns", "a")).error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s->List().error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s->Watch({}).error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace deviceapi::store
