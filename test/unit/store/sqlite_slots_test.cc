// The sqlite backend keeps events in slots (revision modulo a count sized
// from the history bound) rewritten in place once the history is full. These
// tests prove that reusing slots never loses an object or an event the
// history retains (S24, S25), that the file stops growing (S27), and that a
// file laid out for another history bound, or by an older schema, is laid out
// again without losing anything (S25, S26).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <string>
#include <vector>

#include "sqlite_rows.h"
#include "store/sqlite_backend.h"
#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT

constexpr std::uint64_t kRun = 64;  // compaction runs (the test helper's)
std::uint64_t SlotsFor(std::uint64_t history) { return history + kRun + Backend::kMaxCommitEvents; }

class SqliteSlots : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path() + "/state.db"; }
  // A store and its backend both bounded to `history` events.
  std::unique_ptr<Store> Open(std::size_t history) {
    auto o = SmallOptions();
    o.history_max_events = history;
    o.backend = OpenSqlite(Path(), kRun, history);
    if (!o.backend) return nullptr;
    return OpenStore(std::move(o));
  }
  long long Sql(const std::string& sql) {
    std::string why;
    const long long n = deviceapi::testing::SqliteInt(Path(), sql, &why);
    EXPECT_GE(n, 0) << why;
    return n;
  }
  // Writes `n` updates round-robin over `objects` objects; `written` keeps
  // each object's last data.
  void WriteUpdates(Store& s, int n, int objects, std::map<std::string, std::string>* written) {
    for (int i = 0; i < n; ++i) {
      const std::string name = "o" + std::to_string(i % objects);
      const std::string data = std::to_string(s.CurrentRevision()) + std::string(500, 'x');
      ASSERT_TRUE(Update(s, Key("ns", name), data).ok());
      (*written)[name] = data;
    }
  }
  void CreateObjects(Store& s, int objects, std::map<std::string, std::string>* written) {
    for (int i = 0; i < objects; ++i) {
      const std::string name = "o" + std::to_string(i);
      ASSERT_TRUE(Create(s, Key("ns", name), {}, "new").ok());
      (*written)[name] = "new";
    }
  }
  // Every object as last written, and a watch from `history` events back
  // delivers exactly those events, once each, in order (S25).
  void ExpectState(Store& s, const std::map<std::string, std::string>& written, std::size_t history) {
    auto list = s.List(ListOptions{});
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->items.size(), written.size());
    for (const auto& item : list->items) EXPECT_EQ(As(item).data(), written.at(item->key().name)) << item->key().name;
    const Revision from = s.CurrentRevision() - history;
    WatchOptions wo;
    wo.start = from;
    auto w = s.Watch(wo);
    ASSERT_TRUE(w.ok()) << w.error().message;
    Event e;
    std::size_t n = 0;
    Revision expected = from + 1;
    while ((*w)->Next(&e)) {
      EXPECT_EQ(e.revision, expected++);
      ++n;
    }
    EXPECT_EQ(n, history);
    wo.start = from - 1;
    auto expired = s.Watch(wo);
    ASSERT_FALSE(expired.ok()) << "the restored history starts where the bound says";
    EXPECT_EQ(expired.error().code, ErrorCode::kExpired);
  }
  TempDir dir_;
};

// S27: once every slot was written, commits rewrite them: the table keeps
// exactly its slot count, no page is freed or added, and the file stays the
// same size; the retained events are the history and at most one run.
// S24, S25: after a restart every object and the whole history are back.
TEST_F(SqliteSlots, SlotsAreRewrittenInPlaceOnceTheHistoryIsFullS24S25S27) {
  constexpr std::size_t kHistory = 100;
  std::map<std::string, std::string> written;
  Revision last = 0;
  {
    auto s = Open(kHistory);
    ASSERT_TRUE(s);
    CreateObjects(*s, 20, &written);
    WriteUpdates(*s, 3 * static_cast<int>(SlotsFor(kHistory)), 20, &written);
    const long long pages = Sql("PRAGMA page_count");
    EXPECT_EQ(Sql("SELECT count(*) FROM events"), static_cast<long long>(SlotsFor(kHistory)));
    WriteUpdates(*s, 2 * static_cast<int>(SlotsFor(kHistory)), 20, &written);
    EXPECT_EQ(Sql("SELECT count(*) FROM events"), static_cast<long long>(SlotsFor(kHistory)));
    EXPECT_EQ(Sql("PRAGMA page_count"), pages) << "slots are rewritten, the table does not grow";
    EXPECT_LE(deviceapi::testing::SqliteRetainedEvents(Path()), static_cast<int>(kHistory + kRun + 1));
    last = s->CurrentRevision();
  }
  auto s = Open(kHistory);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->CurrentRevision(), last);
  ExpectState(*s, written, kHistory);
  auto next = Update(*s, Key("ns", "o0"), "after");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)->revision(), last + 1);
}

// S25: the next run's history bound differs (larger, then smaller): the
// file is laid out for its slot count at start, keeping every object and
// the history the new bound retains; writes then wrap the new slots.
TEST_F(SqliteSlots, AnotherHistoryBoundLaysTheSlotsOutAgainS25) {
  std::map<std::string, std::string> written;
  Revision resume_from = 0;
  {
    auto s = Open(100);
    ASSERT_TRUE(s);
    CreateObjects(*s, 10, &written);
    WriteUpdates(*s, 1000, 10, &written);
    resume_from = s->CurrentRevision() - 60;
  }
  {
    auto s = Open(300);  // more slots: the 100 retained events move
    ASSERT_TRUE(s);
    EXPECT_EQ(Sql("SELECT value FROM meta WHERE key = 'slots'"), static_cast<long long>(SlotsFor(300)));
    WatchOptions wo;
    wo.start = resume_from;  // a watcher from before the restart resumes
    auto w = s->Watch(wo);
    ASSERT_TRUE(w.ok()) << w.error().message;
    Event e;
    int n = 0;
    while ((*w)->Next(&e)) EXPECT_EQ(e.revision, resume_from + ++n);
    EXPECT_EQ(n, 60);
    WriteUpdates(*s, 2000, 10, &written);
    ExpectState(*s, written, 300);
  }
  {
    auto s = Open(30);  // fewer slots: what the bound drops goes to `objects`
    ASSERT_TRUE(s);
    EXPECT_EQ(Sql("SELECT count(*) FROM events"), 30);
    ExpectState(*s, written, 30);
    WriteUpdates(*s, 1000, 10, &written);
  }
  auto s = Open(30);
  ASSERT_TRUE(s);
  ExpectState(*s, written, 30);
}

// S27: while the byte bound keeps the history well under its count bound
// (large objects), compaction frees the slots it carried, so the file holds
// the history and at most a run, not every slot.
TEST_F(SqliteSlots, ByteBoundHistoryFreesItsSlotsS27) {
  constexpr std::size_t kHistory = 1000;
  std::map<std::string, std::string> written;
  auto o = SmallOptions();
  o.history_max_events = kHistory;
  o.history_max_bytes = 64 << 10;
  o.backend = OpenSqlite(Path(), kRun, kHistory);
  std::size_t retained = 0;
  {
    auto s = OpenStore(o);
    ASSERT_TRUE(s);
    CreateObjects(*s, 10, &written);
    WriteUpdates(*s, 3000, 10, &written);
    retained = s->Stats().history_events;
    ASSERT_LT(retained, kHistory / 2) << "the byte bound must be what limits this history";
    EXPECT_LE(Sql("SELECT count(*) FROM events"), static_cast<long long>(retained + kRun + 1));
  }
  o.backend.reset();  // closes the file before it is opened again
  o.backend = OpenSqlite(Path(), kRun, kHistory);
  auto s = OpenStore(o);
  ASSERT_TRUE(s);
  ExpectState(*s, written, s->Stats().history_events);
  EXPECT_GE(s->Stats().history_events, retained - 1);
}

// S24: a backend sized for a shorter history than the store's reuses slots
// the store's history still holds; they are carried into `objects` first, so
// nothing is lost, and after a restart the history is what the file kept.
TEST_F(SqliteSlots, ShorterSlotBoundThanTheStoresLosesNoObjectS24) {
  std::map<std::string, std::string> written;
  {
    auto o = SmallOptions();
    o.history_max_events = 2000;
    o.backend = OpenSqlite(Path(), kRun, 50);
    auto s = OpenStore(o);
    ASSERT_TRUE(s);
    CreateObjects(*s, 7, &written);
    WriteUpdates(*s, 1500, 7, &written);
    EXPECT_LE(Sql("SELECT count(*) FROM events"), static_cast<long long>(SlotsFor(50)));
  }
  auto s = Open(50);
  ASSERT_TRUE(s);
  ExpectState(*s, written, 50);
}

// S25, S26: a file of schema 3 (events keyed by revision, compacted to a
// history start) is laid out in slots on open: its events, objects and
// revision counter are kept, and it keeps working across restarts.
TEST_F(SqliteSlots, SchemaThreeEventsAreLaidOutInSlotsS25S26) {
  ASSERT_TRUE(SqliteBackend::CreateSchemaForTesting(Path(), 3).ok());
  const auto a = Key("ns", "a"), b = Key("ns", "b");
  // Object a as of the history's start (900), then a, b and a again.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Path().c_str(), &db), SQLITE_OK);
  const std::string sql =
      "INSERT INTO objects VALUES('ns', 'a', 900, " + SqlBlob(TestObject(a, {}, 900, "a0")) + ");"
      "INSERT INTO events(revision, type, data, prev_revision, namespace, name) VALUES(901, 1, " +
      SqlBlob(TestObject(a, {}, 901, "a1")) + ", 900, 'ns', 'a');"
      "INSERT INTO events(revision, type, data, prev_revision, namespace, name) VALUES(902, 0, " +
      SqlBlob(TestObject(b, {}, 902, "b0")) + ", 0, 'ns', 'b');"
      "INSERT INTO events(revision, type, data, prev_revision, namespace, name) VALUES(903, 1, " +
      SqlBlob(TestObject(a, {}, 903, "a2")) + ", 901, 'ns', 'a');"
      "UPDATE meta SET value = 900 WHERE key IN ('revision', 'history_start');";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  for (int restart = 0; restart < 2; ++restart) {
    auto s = Open(100);
    ASSERT_TRUE(s);
    EXPECT_EQ(Sql("PRAGMA user_version"), SqliteBackend::kSchemaVersion);
    EXPECT_EQ(s->CurrentRevision(), 903u);
    ListOptions lo;
    lo.revision = 901;
    lo.exact = true;
    auto at = s->List(lo);
    ASSERT_TRUE(at.ok()) << at.error().message;
    ASSERT_EQ(at->items.size(), 1u);
    EXPECT_EQ(As(at->items[0]).data(), "a1");
    WatchOptions wo;
    wo.start = 900;
    auto w = s->Watch(wo);
    ASSERT_TRUE(w.ok()) << w.error().message;
    std::vector<std::string> seen;
    Event e;
    while ((*w)->Next(&e)) {
      seen.push_back(As(e.object).data());
      if (e.revision == 903) {
        EXPECT_EQ(As(e.previous).data(), "a1");
      }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"a1", "b0", "a2"}));
  }
}

}  // namespace
}  // namespace deviceapi::store
