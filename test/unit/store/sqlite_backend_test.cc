// The sqlite backend's own promises: state, revisions and history survive a
// restart (S24, S25), the file stays bounded (S27), and a file that cannot be
// used is refused with one clear line (S26). The conformance suites
// (store_*_test.cc) run on this backend too.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "failing_sync_vfs.h"
#include "sqlite_rows.h"
#include "store/sqlite_backend.h"
#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT

class SqliteStore : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path() + "/state.db"; }
  std::unique_ptr<Store> Open(StoreOptions o = SmallOptions()) {
    o.backend = OpenSqlite(Path());
    if (!o.backend) return nullptr;
    return OpenStore(std::move(o));
  }
  // A store on a backend that syncs every commit (--storage-sync=full).
  std::unique_ptr<Store> OpenFullSync(std::shared_ptr<SqliteBackend>* backend) {
    SqliteOptions so;
    so.path = Path();
    so.codec = std::make_shared<TestCodec>();
    so.full_sync = true;
    auto opened = SqliteBackend::Open(so);
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().message);
    if (!opened.ok()) return nullptr;
    *backend = *opened;
    StoreOptions o = SmallOptions();
    o.backend = *backend;
    return testing::OpenStore(std::move(o));
  }
  // Runs SQL on the file directly, as another tool would.
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Path().c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  // Why the backend refuses the file, at Open or at Load ("" when it takes it).
  std::string OpenOrLoadError() {
    SqliteOptions o;
    o.path = Path();
    o.codec = std::make_shared<TestCodec>();
    auto b = SqliteBackend::Open(o);
    if (!b.ok()) return b.error().message;
    auto loaded = (*b)->Load();
    return loaded.ok() ? "" : loaded.error().message;
  }
  // A store whose next commit carries a compaction run of kCompactRun
  // events of about 3 KB each: more than the page cache holds (512 KiB), so
  // the run's statements write to the log before its COMMIT does. Closed
  // and opened again first, so that its log starts empty.
  static constexpr std::uint64_t kCompactRun = 256;
  std::unique_ptr<Store> OpenBeforeACompactionRun(std::shared_ptr<SqliteBackend>* backend) {
    constexpr std::size_t kHistory = 300;
    auto open = [&] {
      *backend = OpenSqlite(Path(), kCompactRun, kHistory);
      StoreOptions o = SmallOptions();
      o.history_max_events = kHistory;
      o.backend = *backend;
      return OpenStore(std::move(o));
    };
    const std::string big(3000, 'x');
    auto s = open();
    if (!s) return nullptr;
    auto write = [&](int n, bool create) {
      const auto key = Key("ns", "o" + std::to_string(n % kCompactRun));
      auto w = create ? Create(*s, key, {}, big) : Update(*s, key, std::to_string(n) + big);
      EXPECT_TRUE(w.ok()) << w.error().message;
      return w.ok();
    };
    for (std::uint64_t i = 0; i < kCompactRun; ++i) {
      if (!write(static_cast<int>(i), true)) return nullptr;
    }
    int n = 0;
    for (const auto before = (*backend)->Stats().compactions; (*backend)->Stats().compactions == before; ++n) {
      if (!write(n, false)) return nullptr;
    }
    for (std::uint64_t k = 1; k < kCompactRun; ++k, ++n) {
      if (!write(n, false)) return nullptr;
    }
    s.reset();
    backend->reset();
    return open();
  }
  TempDir dir_;
};

std::vector<Event> DrainAvailable(Watcher& w) {
  std::vector<Event> out;
  Event e;
  while (w.Next(&e)) out.push_back(e);
  return out;
}

TEST_F(SqliteStore, RestartKeepsObjectsRevisionsAndHistoryS24S25) {
  Revision resume_from = 0, last = 0, deleted_at = 0;
  {
    auto s = Open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(Create(*s, Key("ns", "a"), {{"app", "x"}}, "a1").ok());
    ASSERT_TRUE(Create(*s, Key("ns", "b"), {}, "b1").ok());
    resume_from = s->CurrentRevision();
    ASSERT_TRUE(Update(*s, Key("ns", "a"), "a2").ok());
    ASSERT_TRUE(Create(*s, Key("other", "c"), {}, "c1").ok());
    auto d = Delete(*s, Key("ns", "b"));
    ASSERT_TRUE(d.ok());
    deleted_at = (*d)->revision();
    ASSERT_TRUE(Update(*s, Key("ns", "a"), "a3").ok());
    last = s->CurrentRevision();
  }
  // A new store on the same file, seeded far below: revisions continue
  // from the file, not from the seed (S24).
  auto o = SmallOptions();
  o.initial_revision = 1;
  auto s = Open(o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->CurrentRevision(), last);
  auto a = s->Get(Key("ns", "a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(As(*a).data(), "a3");
  EXPECT_EQ(As(*a).labels().at("app"), "x");
  EXPECT_FALSE(s->Get(Key("ns", "b")).ok());
  EXPECT_TRUE(s->Get(Key("other", "c")).ok());

  // S25: a watch from before the restart gets every later event once.
  WatchOptions wo;
  wo.start = resume_from;
  auto w = s->Watch(wo);
  ASSERT_TRUE(w.ok()) << w.error().message;
  auto events = DrainAvailable(**w);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, EventType::kModified);
  EXPECT_EQ(As(events[0].object).data(), "a2");
  EXPECT_EQ(events[1].type, EventType::kAdded);
  EXPECT_EQ(events[2].type, EventType::kDeleted);
  EXPECT_EQ(events[2].revision, deleted_at);
  EXPECT_EQ(As(events[2].object).data(), "b1");  // S7: the last state
  EXPECT_EQ(events[3].revision, last);
  for (std::size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].revision, events[i - 1].revision);

  // S25: an exact list at a pre-restart revision.
  ListOptions lo;
  lo.revision = resume_from;
  lo.exact = true;
  auto list = s->List(lo);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(As(list->items[0]).data(), "a1");
  EXPECT_EQ(As(list->items[1]).data(), "b1");

  // New writes continue above everything issued before (S24).
  auto next = Update(*s, Key("ns", "a"), "a4");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)->revision(), last + 1);
  Event e;
  ASSERT_TRUE((*w)->Next(&e));
  EXPECT_EQ(e.revision, last + 1);
}

// After a restart the store resumes above the revision its last event
// carries. A watch resumed from before the restart that asked for bookmarks
// gets one at the new current revision right after its backlog, so a client
// that waits to reach the revision a list shows is not left waiting for the
// next write or idle bookmark (S15, S25). Without bookmarks, nothing extra.
TEST_F(SqliteStore, ResumedWatchIsBookmarkedAtTheRestartRevisionS15S25) {
  Revision before = 0, last = 0;
  {
    auto s = Open();
    ASSERT_TRUE(s);
    before = (*Create(*s, Key("ns", "a"), {}, "a1"))->revision();
    last = (*Update(*s, Key("ns", "a"), "a2"))->revision();
  }
  auto o = SmallOptions();
  o.initial_revision = last + 1000;  // the seed stands in for the clock
  auto s = Open(o);
  ASSERT_TRUE(s);
  const Revision start = s->CurrentRevision();
  ASSERT_GT(start, last);

  WatchOptions wo;
  wo.start = before;
  wo.allow_bookmarks = true;
  wo.selector = *labels::Selector::Parse("app=none");  // filtered out: the bookmark still comes
  auto w = s->Watch(wo);
  ASSERT_TRUE(w.ok()) << w.error().message;
  auto events = DrainAvailable(**w);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kBookmark);
  EXPECT_EQ(events[0].revision, start);

  wo.selector = {};
  w = s->Watch(wo);
  ASSERT_TRUE(w.ok()) << w.error().message;
  events = DrainAvailable(**w);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].revision, last);
  EXPECT_EQ(events[1].type, EventType::kBookmark);
  EXPECT_EQ(events[1].revision, start);

  wo.allow_bookmarks = false;
  w = s->Watch(wo);
  ASSERT_TRUE(w.ok()) << w.error().message;
  events = DrainAvailable(**w);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].revision, last);

  // Once a write carries the current revision, a resumed watch needs none.
  auto next = Update(*s, Key("ns", "a"), "a3");
  ASSERT_TRUE(next.ok());
  wo.allow_bookmarks = true;
  w = s->Watch(wo);
  ASSERT_TRUE(w.ok()) << w.error().message;
  events = DrainAvailable(**w);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].revision, (*next)->revision());
  EXPECT_NE(events[1].type, EventType::kBookmark);
}

// A database restored from a backup (or one whose last commits a power cut
// took under --storage-sync=normal) lacks revisions that clients hold. The
// store resumes above the clock, and a revision between the file's and the
// new start is answered too old, so the client relists instead of resuming
// on a state the store no longer has (S2, S24). Revisions the file holds
// resume as before (S25).
TEST_F(SqliteStore, RestoredBackupAnswersTheLostRevisionsTooOldS2S24S25) {
  const std::string backup = dir_.path() + "/backup.db";
  Revision backed_up = 0, lost = 0, first = 0;
  {
    auto s = Open();
    ASSERT_TRUE(s);
    first = (*Create(*s, Key("ns", "a"), {}, "a1"))->revision();
    backed_up = (*Create(*s, Key("ns", "b"), {}, "b1"))->revision();
  }
  std::filesystem::copy_file(Path(), backup);
  {
    auto s = Open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(Update(*s, Key("ns", "a"), "a2").ok());
    lost = (*Create(*s, Key("ns", "c"), {}, "c1"))->revision();
  }
  std::filesystem::copy_file(backup, Path(), std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(Path() + "-wal");
  std::filesystem::remove(Path() + "-shm");

  constexpr Revision kClock = 1'000'000;  // the seed stands in for the clock
  auto o = SmallOptions();
  o.initial_revision = kClock;
  auto s = Open(o);
  ASSERT_TRUE(s);
  const Revision start = s->CurrentRevision();
  EXPECT_GE(start, kClock);
  for (Revision r : {backed_up + 1, lost, kClock - 1, start - 1}) {
    WatchOptions wo;
    wo.start = r;
    auto w = s->Watch(wo);
    ASSERT_FALSE(w.ok()) << r;
    EXPECT_EQ(w.error().code, ErrorCode::kExpired);
    EXPECT_THAT(w.error().message, ::testing::HasSubstr("too old resource version: " + std::to_string(r)));
    EXPECT_THAT(w.error().message, ::testing::HasSubstr("relist"));
    ListOptions lo;
    lo.revision = r;
    lo.exact = true;
    EXPECT_EQ(s->List(lo).error().code, ErrorCode::kExpired);
    lo.exact = false;
    EXPECT_EQ(s->List(lo).error().code, ErrorCode::kExpired);
    GetOptions go;
    go.min_revision = r;
    EXPECT_EQ(s->Get(Key("ns", "a"), go).error().code, ErrorCode::kExpired);
  }
  // What the file holds resumes (S25), the new start too.
  WatchOptions from_first;
  from_first.start = first;
  auto w = s->Watch(from_first);
  ASSERT_TRUE(w.ok()) << w.error().message;
  auto events = DrainAvailable(**w);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].revision, backed_up);
  for (Revision r : {backed_up, start}) {
    WatchOptions wo;
    wo.start = r;
    EXPECT_TRUE(s->Watch(wo).ok()) << r;
  }
  EXPECT_EQ(As(*s->Get(Key("ns", "a"))).data(), "a1");
  auto d = Create(*s, Key("ns", "d"), {}, "d1");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->revision(), start + 1);
  Event e;
  ASSERT_TRUE((*w)->Next(&e));
  EXPECT_EQ(e.revision, start + 1);
  s.reset();

  // The gap outlives the next restart, whatever the clock says then.
  o.initial_revision = 1;
  s = Open(o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->CurrentRevision(), start + 1);
  WatchOptions wo;
  wo.start = lost;
  EXPECT_EQ(s->Watch(wo).error().code, ErrorCode::kExpired);
  wo.start = start;
  auto resumed = s->Watch(wo);
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  EXPECT_EQ(DrainAvailable(**resumed).size(), 1u);
}

// A start above the file's revision is itself a revision clients may hold (a
// List answers it): a restart with no write in between resumes from it
// (S25), and the next start's gap begins there.
TEST_F(SqliteStore, StartRevisionWithoutWritesStillResumesAfterTheNextRestartS25) {
  Revision last = 0;
  {
    auto s = Open();
    ASSERT_TRUE(s);
    last = (*Create(*s, Key("ns", "a"), {}, "a1"))->revision();
  }
  auto o = SmallOptions();
  o.initial_revision = 1'000'000;
  Revision first_start = 0;
  {
    auto s = Open(o);
    ASSERT_TRUE(s);
    first_start = s->CurrentRevision();
  }
  o.initial_revision = 2'000'000;
  auto s = Open(o);
  ASSERT_TRUE(s);
  const Revision second_start = s->CurrentRevision();
  EXPECT_GE(first_start, 1'000'000u);
  EXPECT_GE(second_start, 2'000'000u);
  for (Revision r : {last, first_start, second_start}) {
    WatchOptions wo;
    wo.start = r;
    EXPECT_TRUE(s->Watch(wo).ok()) << r;
  }
  for (Revision r : {last + 1, first_start - 1, first_start + 1, second_start - 1}) {
    WatchOptions wo;
    wo.start = r;
    EXPECT_EQ(s->Watch(wo).error().code, ErrorCode::kExpired) << r;
  }
}

// The history from before a gap stays in the file once writes follow the
// gap, also where the slots wrap: a restart after them resumes a watch from
// before the gap, in revision order (S25, S27).
TEST_F(SqliteStore, HistoryFromBeforeAGapOutlivesTheWritesAfterItS25S27) {
  auto open = [&](Revision seed) {
    SqliteOptions so;
    so.path = Path();
    so.codec = std::make_shared<TestCodec>();
    so.compact_events = 8;
    so.history_max_events = 16;  // 280 slots
    auto backend = SqliteBackend::Open(so);
    EXPECT_TRUE(backend.ok()) << (backend.ok() ? "" : backend.error().message);
    StoreOptions o = SmallOptions();
    o.history_max_events = 16;
    o.initial_revision = seed;
    o.backend = backend.ok() ? *backend : nullptr;
    return backend.ok() ? testing::OpenStore(std::move(o)) : nullptr;
  };
  Revision before_gap = 0;
  {
    auto s = open(100);
    ASSERT_TRUE(s);
    ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "a").ok());
    for (int i = 0; i < 600; ++i) ASSERT_TRUE(Update(*s, Key("ns", "a"), "x" + std::to_string(i)).ok());
    before_gap = s->CurrentRevision() - 10;
  }
  {
    auto s = open(1'000'000);  // far above: a gap
    ASSERT_TRUE(s);
    ASSERT_GT(s->CurrentRevision(), 1'000'000u);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(Update(*s, Key("ns", "a"), "y" + std::to_string(i)).ok());
  }
  {
    auto s = open(1);
    ASSERT_TRUE(s);
    WatchOptions wo;
    wo.start = before_gap;
    auto w = s->Watch(wo);
    ASSERT_TRUE(w.ok()) << w.error().message;
    auto events = DrainAvailable(**w);
    ASSERT_EQ(events.size(), 15u);
    EXPECT_EQ(As(events[9].object).data(), "x599");
    EXPECT_EQ(As(events[14].object).data(), "y4");
    for (int i = 0; i < 600; ++i) ASSERT_TRUE(Update(*s, Key("ns", "a"), "z" + std::to_string(i)).ok());
  }
  auto s = open(1);
  ASSERT_TRUE(s);
  EXPECT_EQ(As(*s->Get(Key("ns", "a"))).data(), "z599");
  WatchOptions wo;
  wo.start = s->CurrentRevision() - 12;
  auto w = s->Watch(wo);
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(DrainAvailable(**w).size(), 12u);
  EXPECT_LE(deviceapi::testing::SqliteInt(Path(), "SELECT count(*) FROM events"), 280);
}

// Restarts without end keep a bounded number of gaps: the oldest merge, so a
// revision between them is refused too, and none is forgotten (S2, S27).
TEST_F(SqliteStore, ManyRestartsKeepFewGapsAndForgetNoneS2S27) {
  Revision lost = 0;
  {
    auto s = Open();
    ASSERT_TRUE(s);
    lost = (*Create(*s, Key("ns", "a"), {}, "a0"))->revision() + 1;
  }
  for (int i = 1; i <= 40; ++i) {
    auto o = SmallOptions();
    o.initial_revision = static_cast<Revision>(i) * 1000;
    auto s = Open(o);
    ASSERT_TRUE(s);
    ASSERT_TRUE(Update(*s, Key("ns", "a"), "a" + std::to_string(i)).ok());
  }
  auto s = Open();
  ASSERT_TRUE(s);
  WatchOptions wo;
  wo.start = lost;
  EXPECT_EQ(s->Watch(wo).error().code, ErrorCode::kExpired);
  s.reset();
  EXPECT_LE(deviceapi::testing::SqliteInt(Path(), "SELECT count(*) FROM meta WHERE key GLOB 'gap:*'"), 16);
}

// Once the history has passed a gap, its revisions are too old anyway: the
// file drops it (S27).
TEST_F(SqliteStore, GapsThatTheHistoryPassedAreDroppedS27) {
  {
    auto s = Open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "a0").ok());
  }
  auto o = SmallOptions();
  o.initial_revision = 1'000'000;
  o.history_max_events = 8;
  {
    auto s = Open(o);
    ASSERT_TRUE(s);
    EXPECT_EQ(deviceapi::testing::SqliteInt(Path(), "SELECT count(*) FROM meta WHERE key GLOB 'gap:*'"), 1);
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(Update(*s, Key("ns", "a"), "a" + std::to_string(i)).ok());
  }
  EXPECT_EQ(deviceapi::testing::SqliteInt(Path(), "SELECT count(*) FROM meta WHERE key GLOB 'gap:*'"), 0);
}

TEST_F(SqliteStore, HistoryBoundsOfTheNewRunApplyAfterRestartS25) {
  Revision first = 0;
  {
    auto s = Open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "0").ok());
    first = s->CurrentRevision();
    for (int i = 1; i <= 50; ++i) ASSERT_TRUE(Update(*s, Key("ns", "a"), std::to_string(i)).ok());
  }
  auto o = SmallOptions();
  o.history_max_events = 10;
  auto s = Open(o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Stats().history_events, 10u);
  WatchOptions wo;
  wo.start = first;
  auto w = s->Watch(wo);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kExpired);  // S14 on the restored history
  wo.start = s->CurrentRevision() - 10;
  w = s->Watch(wo);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(DrainAvailable(**w).size(), 10u);
}

TEST_F(SqliteStore, ConcurrentWritersAreAllDurableAndInRevisionOrderS24) {
  constexpr int kWriters = 8, kEach = 200;
  std::vector<Revision> acked[kWriters];
  {
    auto s = Open();
    ASSERT_TRUE(s);
    WatchOptions wo;
    wo.start = s->CurrentRevision();
    wo.queue_capacity = kWriters * kEach + 10;
    auto w = s->Watch(wo);
    ASSERT_TRUE(w.ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < kWriters; ++t) {
      threads.emplace_back([&, t] {
        ObjectKey key = Key("ns", "w" + std::to_string(t));
        auto c = Create(*s, key, {}, "0");
        ASSERT_TRUE(c.ok());
        acked[t].push_back((*c)->revision());
        for (int i = 1; i < kEach; ++i) {
          auto u = Update(*s, key, std::to_string(i));
          ASSERT_TRUE(u.ok());
          acked[t].push_back((*u)->revision());
        }
      });
    }
    for (auto& th : threads) th.join();
    // Visibility order = revision order: the watch saw them consecutively.
    auto events = DrainAvailable(**w);
    ASSERT_EQ(events.size(), std::size_t{kWriters * kEach});
    for (std::size_t i = 1; i < events.size(); ++i) EXPECT_EQ(events[i].revision, events[i - 1].revision + 1);
    auto stats = std::static_pointer_cast<SqliteBackend>(s->options().backend)->Stats();
    // Group commit: fewer transactions than writes when writers overlap.
    std::printf("group commit: %d writes in %llu transactions\n", kWriters * kEach,
                static_cast<unsigned long long>(stats.commits));
    EXPECT_LE(stats.commits, std::uint64_t{kWriters * kEach});
  }
  auto s = Open();
  ASSERT_TRUE(s);
  for (int t = 0; t < kWriters; ++t) {
    auto g = s->Get(Key("ns", "w" + std::to_string(t)));
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(As(*g).data(), std::to_string(kEach - 1));
    EXPECT_EQ((*g)->revision(), acked[t].back());
  }
}

// S24, S26: a write answered UNAVAILABLE changes nothing, also when the
// process dies right after the answer. With --storage-sync=full a COMMIT
// whose fsync fails has written its log frames whole already; SQLite's
// recovery at the next start replays whatever whole frames the log holds.
// The crash here is a copy of the files as they are right after the answer,
// with the disk still failing.
TEST_F(SqliteStore, WriteWhoseSyncFailedIsNotReplayedAfterACrashS24S26) {
  FailingSyncVfs disk;
  std::shared_ptr<SqliteBackend> backend;
  auto s = OpenFullSync(&backend);
  ASSERT_TRUE(s);
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "a1").ok());
  ASSERT_TRUE(Create(*s, Key("ns", "b"), {}, "b1").ok());
  const Revision acknowledged = s->CurrentRevision();

  disk.FailLogSyncs(true);
  auto failed = Update(*s, Key("ns", "a"), "a2, answered UNAVAILABLE");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable) << failed.error().message;
  ASSERT_GT(disk.failed_syncs(), 0);

  TempDir crashed;
  const std::string copy = crashed.path() + "/state.db";
  for (const char* suffix : {"", "-wal"}) {
    std::filesystem::copy_file(Path() + suffix, copy + suffix);
  }
  disk.FailLogSyncs(false);
  StoreOptions after = SmallOptions();
  after.backend = OpenSqlite(copy);
  auto restarted = OpenStore(std::move(after));
  ASSERT_TRUE(restarted);
  EXPECT_EQ(restarted->CurrentRevision(), acknowledged);
  auto a = restarted->Get(Key("ns", "a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(As(*a).data(), "a1");
  EXPECT_TRUE(restarted->Get(Key("ns", "b")).ok());

  // The disk is back: the server that answered UNAVAILABLE writes again.
  auto next = Update(*s, Key("ns", "a"), "a3");
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ((*next)->revision(), acknowledged + 1);
}

// /readyz and /metrics read Fault() and Stats() on the admin HTTP thread:
// a commit stuck in fsync (--storage-sync=full on a failing disk) must not
// hold them up, or the probes and the scrape hang with the disk (S32).
TEST_F(SqliteStore, FaultAndStatsAnswerWhileACommitHangsInSyncS32S26) {
  FailingSyncVfs disk;
  std::shared_ptr<SqliteBackend> backend;
  auto s = OpenFullSync(&backend);
  ASSERT_TRUE(s);
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "a1").ok());

  constexpr auto kStall = std::chrono::seconds(3);
  disk.StallLogSyncs(kStall);
  std::thread writer([&] { EXPECT_TRUE(Update(*s, Key("ns", "a"), "a2").ok()); });
  while (disk.stalled_syncs() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  disk.StallLogSyncs(std::chrono::milliseconds(0));

  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(backend->Fault(), "");
  const SqliteStats stats = backend->Stats();
  const auto waited = std::chrono::steady_clock::now() - t0;
  // A hang check: a read that waited for the commit took the whole stall.
  EXPECT_LT(waited, std::chrono::seconds(1));
  EXPECT_GE(stats.commits, 1u);
  writer.join();
  EXPECT_GT(backend->Stats().commits, stats.commits);
}

TEST_F(SqliteStore, SecondOpenOfOneFileIsRefusedS26) {
  auto first = OpenSqlite(Path());
  ASSERT_TRUE(first);
  SqliteOptions o;
  o.path = Path();
  o.codec = std::make_shared<TestCodec>();
  auto second = SqliteBackend::Open(o);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("in use by another device-api-server"), std::string::npos)
      << second.error().message;
  first.reset();
  EXPECT_TRUE(SqliteBackend::Open(o).ok());  // the lock dies with its holder
}

TEST_F(SqliteStore, NewerSchemaIsRefusedS26) {
  ASSERT_TRUE(OpenSqlite(Path()));
  Sql("PRAGMA user_version = " + std::to_string(SqliteBackend::kSchemaVersion + 1));
  SqliteOptions o;
  o.path = Path();
  o.codec = std::make_shared<TestCodec>();
  auto b = SqliteBackend::Open(o);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("newer than this server's"), std::string::npos) << b.error().message;
}

TEST_F(SqliteStore, OlderSchemaIsMigratedS26) {
  ASSERT_TRUE(SqliteBackend::CreateSchemaForTesting(Path(), 1).ok());
  // What a version-1 server left: one object at revision 700.
  Sql("INSERT INTO objects VALUES('ns', 'old', 700, " + SqlBlob(TestObject(Key("ns", "old"), {}, 700, "kept")) +
      "); UPDATE meta SET value = 700 WHERE key = 'revision';");
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->CurrentRevision(), 700u);
  auto g = s->Get(Key("ns", "old"));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(As(*g).data(), "kept");
  auto u = Update(*s, Key("ns", "old"), "new");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ((*u)->revision(), 701u);
}

// Objects the history no longer covers come back after a restart as they
// were last written (updated, untouched or deleted), and the history that
// remains still rolls back to its start (S9 exact, S25).
TEST_F(SqliteStore, CompactedHistoryRestartsWithEveryObjectS24S25) {
  auto o = SmallOptions();
  o.history_max_events = 10;
  Revision oldest = 0;
  {
    auto s = Open(o);
    ASSERT_TRUE(s);
    ASSERT_TRUE(Create(*s, Key("ns", "untouched"), {}, "u").ok());
    ASSERT_TRUE(Create(*s, Key("ns", "gone"), {}, "g").ok());
    ASSERT_TRUE(Create(*s, Key("ns", "busy"), {}, "0").ok());
    ASSERT_TRUE(Delete(*s, Key("ns", "gone")).ok());
    for (int i = 1; i <= 300; ++i) ASSERT_TRUE(Update(*s, Key("ns", "busy"), std::to_string(i)).ok());
    oldest = s->CurrentRevision() - 10;
  }
  for (int restart = 0; restart < 2; ++restart) {
    auto s = Open(o);
    ASSERT_TRUE(s);
    auto busy = s->Get(Key("ns", "busy"));
    ASSERT_TRUE(busy.ok());
    EXPECT_EQ(As(*busy).data(), "300");
    auto untouched = s->Get(Key("ns", "untouched"));
    ASSERT_TRUE(untouched.ok());
    EXPECT_EQ(As(*untouched).data(), "u");
    EXPECT_FALSE(s->Get(Key("ns", "gone")).ok());
    ListOptions lo;
    lo.revision = oldest;
    lo.exact = true;
    auto list = s->List(lo);
    ASSERT_TRUE(list.ok()) << list.error().message;
    ASSERT_EQ(list->items.size(), 2u);
    EXPECT_EQ(As(list->items[0]).data(), "290");
    EXPECT_EQ(As(list->items[1]).data(), "u");
    if (restart == 0) {
      for (int i = 301; i <= 400; ++i) ASSERT_TRUE(Update(*s, Key("ns", "busy"), std::to_string(i - 100)).ok());
      oldest = s->CurrentRevision() - 10;
    }
  }
}

// A file of schema 2 with history: events that refer to their previous
// version by revision only, `objects` holding the current state. After the
// migration the old events are compacted away and every version is still
// found.
TEST_F(SqliteStore, SchemaTwoHistoryIsMigratedAndCompactedS25S26) {
  ASSERT_TRUE(SqliteBackend::CreateSchemaForTesting(Path(), 2).ok());
  const auto a = Key("ns", "a"), b = Key("ns", "b");
  Sql("INSERT INTO events VALUES(500, 0, " + SqlBlob(TestObject(a, {}, 500, "a0")) + ", 0, NULL);"
      "INSERT INTO events VALUES(501, 0, " + SqlBlob(TestObject(b, {}, 501, "b0")) + ", 0, NULL);"
      "INSERT INTO events VALUES(502, 1, " + SqlBlob(TestObject(a, {}, 502, "a1")) + ", 500, NULL);"
      "INSERT INTO objects VALUES('ns', 'a', 502, " + SqlBlob(TestObject(a, {}, 502, "a1")) + ");"
      "INSERT INTO objects VALUES('ns', 'b', 501, " + SqlBlob(TestObject(b, {}, 501, "b0")) + ");"
      "UPDATE meta SET value = 502 WHERE key = 'revision';"
      "UPDATE meta SET value = 499 WHERE key = 'history_start';");
  {
    auto s = Open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->CurrentRevision(), 502u);
    ListOptions lo;
    lo.revision = 500;
    lo.exact = true;
    auto list = s->List(lo);
    ASSERT_TRUE(list.ok()) << list.error().message;
    ASSERT_EQ(list->items.size(), 1u);
    EXPECT_EQ(As(list->items[0]).data(), "a0");
  }
  auto o = SmallOptions();
  o.history_max_events = 5;
  {
    auto s = Open(o);
    ASSERT_TRUE(s);
    for (int i = 2; i <= 100; ++i) ASSERT_TRUE(Update(*s, a, "a" + std::to_string(i)).ok());
    auto stats = std::static_pointer_cast<SqliteBackend>(s->options().backend)->Stats();
    EXPECT_GT(stats.compactions, 0u);
  }
  auto s = Open(o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->CurrentRevision(), 601u);
  auto got_a = s->Get(a), got_b = s->Get(b);
  ASSERT_TRUE(got_a.ok());
  ASSERT_TRUE(got_b.ok());
  EXPECT_EQ(As(*got_a).data(), "a100");
  EXPECT_EQ(As(*got_b).data(), "b0");
  EXPECT_EQ((*got_b)->revision(), 501u);
  ListOptions lo;
  lo.revision = s->CurrentRevision() - 5;
  lo.exact = true;
  auto list = s->List(lo);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(As(list->items[0]).data(), "a95");
}

TEST_F(SqliteStore, CorruptedFileIsRefusedWithRecoveryS26) {
  {
    auto s = Open();
    ASSERT_TRUE(s);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(Create(*s, Key("ns", "o" + std::to_string(i)), {}, std::string(2000, 'x')).ok());
  }
  {
    std::fstream f(Path(), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f);
    f.seekp(0);
    f << std::string(4096, '\x5a');  // the header and the first page
  }
  const std::string message = OpenOrLoadError();
  EXPECT_NE(message.find("is corrupted"), std::string::npos) << message;
  EXPECT_NE(message.find("move the file aside"), std::string::npos) << message;
}

// S27: under a long write load the file stops growing once the history is
// full: dropped events' pages are reused.
// S24/S26: a damaged index on `objects` lets an upsert add a second row for an object instead of
// replacing the first; a later start must refuse the file, not serve whichever row comes first
// (an acknowledged update rolled back). The damage is injected as a disk would: the index's
// first leaf page claims fewer cells than it holds.
TEST_F(SqliteStore, ObjectStoredTwiceIsRefusedAsCorruptedS24S26) {
  auto o = SmallOptions();
  o.history_max_events = 10;
  const int kObjects = 150;
  {
    auto s = Open(o);
    ASSERT_TRUE(s);
    for (int i = 0; i < kObjects; ++i) ASSERT_TRUE(Create(*s, Key("ns", "o" + std::to_string(i)), {}, "v0").ok());
    for (int i = 0; i < kObjects; ++i) ASSERT_TRUE(Update(*s, Key("ns", "o" + std::to_string(i)), "v1").ok());
  }
  int leaf = 0;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Path().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT pageno FROM dbstat WHERE name = 'sqlite_autoindex_objects_1' "
                                 "AND pagetype = 'leaf' ORDER BY pageno LIMIT 1",
                                 -1, &q, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    if (sqlite3_step(q) == SQLITE_ROW) leaf = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
  }
  ASSERT_GT(leaf, 1) << "the objects index has a leaf page of its own";
  {
    std::fstream f(Path(), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f);
    f.seekp(static_cast<std::streamoff>(leaf - 1) * 4096 + 3);  // the leaf's cell count
    f.put('\0').put('\1');
  }
  int updated = 0;
  {
    auto s = Open(o);
    ASSERT_TRUE(s) << "the damage is not visible at start";
    for (int round = 2; round <= 4; ++round) {
      for (int i = 0; i < kObjects; ++i) {
        updated += Update(*s, Key("ns", "o" + std::to_string(i)), "v" + std::to_string(round)).ok() ? 1 : 0;
      }
    }
  }
  const std::string message = OpenOrLoadError();
  EXPECT_NE(message.find("is corrupted"), std::string::npos)
      << updated << " updates acknowledged on the damaged file; " << message;
}

TEST_F(SqliteStore, FileStaysFlatOnceHistoryIsFullS27) {
  auto o = SmallOptions();
  o.history_max_events = 100;
  auto s = Open(o);
  ASSERT_TRUE(s);
  auto backend = std::static_pointer_cast<SqliteBackend>(s->options().backend);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Create(*s, Key("ns", "o" + std::to_string(i)), {}, "0").ok());
  auto write_round = [&](int round) {
    for (int i = 0; i < 400; ++i) {
      ASSERT_TRUE(Update(*s, Key("ns", "o" + std::to_string(i % 20)), std::to_string(round) + std::string(1500, 'y') + std::to_string(i)).ok());
    }
  };
  write_round(1);
  write_round(2);
  const auto after_fill = backend->Stats();
  for (int r = 3; r < 6; ++r) write_round(r);
  const auto after = backend->Stats();
  std::printf("S27: database %llu -> %llu bytes, WAL %llu -> %llu bytes, %llu compactions\n",
              static_cast<unsigned long long>(after_fill.database_bytes),
              static_cast<unsigned long long>(after.database_bytes),
              static_cast<unsigned long long>(after_fill.wal_bytes), static_cast<unsigned long long>(after.wal_bytes),
              static_cast<unsigned long long>(after.compactions));
  EXPECT_GT(after.compactions, 0u);
  EXPECT_LE(after.database_bytes, after_fill.database_bytes * 5 / 4 + 65536);
  EXPECT_LE(after.wal_bytes, 16u << 20);
}

// S27: compaction waits for a whole run of dropped events, then drops them
// all in one commit; the file never holds more than one run beyond the
// history.
TEST_F(SqliteStore, CompactsOnceARunOfEventsWasDroppedS27) {
  constexpr int kRun = 100, kHistory = 10;
  auto o = SmallOptions();
  o.history_max_events = kHistory;
  o.backend = OpenSqlite(Path(), kRun);
  auto s = OpenStore(o);
  ASSERT_TRUE(s);
  auto backend = std::static_pointer_cast<SqliteBackend>(o.backend);
  auto stored_events = [&] {
    std::string why;
    const int n = deviceapi::testing::SqliteRows(Path(), "events", &why);
    EXPECT_GE(n, 0) << why;
    return n;
  };
  const auto a = Key("ns", "a");
  ASSERT_TRUE(Create(*s, a, {}, "0").ok());
  int written = 0;
  std::vector<int> compacted_at;  // the updates whose commit compacted
  for (int i = 0; i < 3 * kRun + kHistory; ++i) {
    const auto before = backend->Stats().compactions;
    ASSERT_TRUE(Update(*s, a, std::to_string(++written)).ok());
    if (backend->Stats().compactions != before) {
      compacted_at.push_back(written);
      // The commit carries the start from before its own event evicted one.
      EXPECT_LE(stored_events(), kHistory + 1) << "a compaction drops every event the history dropped";
    }
    ASSERT_LE(stored_events(), kHistory + kRun) << "after update " << written;
  }
  // Once the history is full, one compaction every kRun updates.
  ASSERT_GE(compacted_at.size(), 3u);
  for (std::size_t i = 1; i < compacted_at.size(); ++i) EXPECT_EQ(compacted_at[i] - compacted_at[i - 1], kRun);
  s.reset();
  backend.reset();
  o.backend.reset();
  auto reopened = Open(o);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(As(*reopened->Get(a)).data(), std::to_string(written));
}

// S26: readiness and the log name the cause of a full disk. A statement
// that fails with SQLITE_FULL inside the transaction has made SQLite roll
// it back already; the fault must still be that statement's, not what
// cleaning up after it answered.
TEST_F(SqliteStore, FullDiskIsNamedAsTheCauseS26) {
  FailingSyncVfs disk;
  std::shared_ptr<SqliteBackend> backend;
  auto s = OpenBeforeACompactionRun(&backend);
  ASSERT_TRUE(s);
  disk.CapLog(400 << 10);  // less than the run needs
  auto failed = Update(*s, Key("ns", "o0"), "small");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable) << failed.error().message;
  ASSERT_GT(disk.full_writes(), 0);
  EXPECT_THAT(backend->Fault(), ::testing::HasSubstr("database or disk is full"));
}

// S26: while the disk stays full, storage is not reported healthy. The
// write that fails carries a compaction run; the probe that the server runs
// every second must not declare recovery while that run still cannot be
// committed (readiness would flap while every write fails). Once space is
// back the probe commits the run and recovers, and a client sees nothing
// of it: the same objects, revisions and history, also after a restart.
TEST_F(SqliteStore, ProbeRecoversOnlyWhenTheFailedCompactionFitsS26) {
  FailingSyncVfs disk;
  std::shared_ptr<SqliteBackend> backend;
  auto s = OpenBeforeACompactionRun(&backend);
  ASSERT_TRUE(s);
  const Revision acknowledged = s->CurrentRevision();
  const Revision oldest = s->Stats().oldest_retained_revision;
  const auto compactions = backend->Stats().compactions;
  disk.CapLog(400 << 10);  // more than the probe writes, less than the run needs
  for (int i = 0; i < 5; ++i) {
    auto failed = Update(*s, Key("ns", "o0"), "small " + std::to_string(i));
    ASSERT_FALSE(failed.ok()) << "write " << i;
    backend->Probe();
    EXPECT_THAT(backend->Fault(), ::testing::HasSubstr("database or disk is full"))
        << "after the probe that followed failed write " << i;
  }
  EXPECT_EQ(backend->Stats().compactions, compactions);
  EXPECT_EQ(s->CurrentRevision(), acknowledged);

  disk.CapLog(-1);
  backend->Probe();
  EXPECT_EQ(backend->Fault(), "");
  EXPECT_EQ(backend->Stats().compactions, compactions + 1);
  EXPECT_EQ(s->CurrentRevision(), acknowledged);
  EXPECT_EQ(s->Stats().oldest_retained_revision, oldest);
  auto next = Update(*s, Key("ns", "o0"), "after");
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ((*next)->revision(), acknowledged + 1);
  EXPECT_EQ(backend->Stats().compactions, compactions + 1);
  const Revision oldest_now = s->Stats().oldest_retained_revision;

  s.reset();
  backend.reset();
  StoreOptions o = SmallOptions();
  o.history_max_events = 300;
  o.backend = OpenSqlite(Path(), kCompactRun, 300);
  auto restarted = OpenStore(std::move(o));
  ASSERT_TRUE(restarted);
  EXPECT_EQ(restarted->CurrentRevision(), acknowledged + 1);
  auto list = restarted->List(ListOptions{});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->items.size(), kCompactRun);
  EXPECT_EQ(As(*restarted->Get(Key("ns", "o0"))).data(), "after");
  // The history as the store held it: a watch from its start replays every
  // retained event.
  EXPECT_EQ(restarted->Stats().oldest_retained_revision, oldest_now);
  WatchOptions wo;
  wo.start = oldest_now - 1;
  wo.queue_capacity = 1000;
  auto w = restarted->Watch(wo);
  ASSERT_TRUE(w.ok()) << w.error().message;
  const auto events = DrainAvailable(**w);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().revision, oldest_now);
  EXPECT_EQ(events.back().revision, acknowledged + 1);
}

}  // namespace
}  // namespace deviceapi::store
