// The sqlite backend's migrations and event-slot layout. See
// sqlite_layout.h.
#include "store/sqlite_layout.h"

#include <algorithm>
#include <iterator>

#include "store/event.h"
#include "store/sqlite_backend.h"

namespace deviceapi::store::sqlite_layout {
namespace {

// Each step takes the schema from version i to i + 1. A new file runs them
// all; a file an older server wrote runs the ones it lacks.
constexpr const char* kMigrations[] = {
    // 1: the current objects and the revision counter.
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT INTO meta VALUES('revision', 0);"
    "CREATE TABLE objects(namespace TEXT NOT NULL, name TEXT NOT NULL, revision INTEGER NOT NULL,"
    "  data BLOB NOT NULL, PRIMARY KEY(namespace, name));",
    // 2: the retained history, so watches resume across a restart. An event
    // holds its previous version by revision (prev_revision) when the event
    // that created that version is retained too, else as bytes (previous).
    "CREATE TABLE events(revision INTEGER PRIMARY KEY, type INTEGER NOT NULL, data BLOB NOT NULL,"
    "  prev_revision INTEGER NOT NULL, previous BLOB);"
    "CREATE INDEX events_by_prev ON events(prev_revision) WHERE previous IS NULL AND prev_revision > 0;"
    "INSERT INTO meta VALUES('history_start', 0);"
    // Scratch space for the recovery probe (see Probe).
    "CREATE TABLE probe(id INTEGER PRIMARY KEY, data BLOB);",
    // 3: a commit writes one row per event. `objects` becomes each object as
    // of the history's start (compaction carries dropped events into it), so
    // an event's previous version is a retained event or that row, found by
    // revision; `meta.revision` is written by compactions only. Events name
    // their object so that compaction needs no decoding. Older events get
    // their previous version's bytes now, as the index that found their
    // referrers goes.
    "ALTER TABLE events ADD COLUMN namespace TEXT;"
    "ALTER TABLE events ADD COLUMN name TEXT;"
    "UPDATE events SET previous = (SELECT p.data FROM events AS p WHERE p.revision = events.prev_revision)"
    "  WHERE previous IS NULL AND prev_revision > 0;"
    "DROP INDEX events_by_prev;",
    // 4: events in slots (revision modulo the slot count), rewritten in
    // place once the history is full. LayOutSlots moves the events into the
    // table of that layout whenever `slots` differs from this run's count,
    // this first time included.
    "INSERT INTO meta VALUES('slots', 0);",
};
static_assert(std::size(kMigrations) == SqliteBackend::kSchemaVersion);

int Exec(sqlite3* db, const std::string& sql) { return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr); }

// Reads one integer into `*out` (0 when the query returns no row or NULL).
int QueryInt(sqlite3* db, const char* sql, std::int64_t* out) {
  sqlite3_stmt* q = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &q, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(q);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_finalize(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

}  // namespace

Failure Migrate(sqlite3* db, int from, int to) {
  for (int v = from; v < to; ++v) {
    const std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v] + "PRAGMA user_version=" +
                            std::to_string(v + 1) + ";COMMIT;";
    if (int rc = Exec(db, sql); rc != SQLITE_OK) {
      Exec(db, "ROLLBACK");
      return {rc, "migrating the schema to version " + std::to_string(v + 1)};
    }
  }
  return {};
}

Failure LayOutSlots(sqlite3* db, std::uint64_t slots, std::uint64_t history_max_events) {
  const std::string doing = "laying out the history";
  std::int64_t stored = 0;
  if (int rc = QueryInt(db, "SELECT value FROM meta WHERE key = 'slots'", &stored); rc != SQLITE_OK) {
    return {rc, doing};
  }
  if (static_cast<std::uint64_t>(stored) == slots) return {};
  if (int rc = Exec(db, "BEGIN IMMEDIATE"); rc != SQLITE_OK) return {rc, doing};
  std::int64_t start = 0, counted = 0, newest_event = 0;
  int rc = QueryInt(db, "SELECT value FROM meta WHERE key = 'history_start'", &start);
  if (rc == SQLITE_OK) rc = QueryInt(db, "SELECT value FROM meta WHERE key = 'revision'", &counted);
  if (rc == SQLITE_OK) rc = QueryInt(db, "SELECT max(revision) FROM events", &newest_event);
  if (rc == SQLITE_OK) {
    const std::int64_t newest = std::max(counted, newest_event);
    const std::int64_t keep_after = std::max(start, newest - static_cast<std::int64_t>(history_max_events));
    // Each object's last event in (start, keep_after] becomes its row.
    const std::string last_dropped = "SELECT max(revision) FROM events WHERE revision > " + std::to_string(start) +
                                     " AND revision <= " + std::to_string(keep_after) +
                                     " AND namespace IS NOT NULL GROUP BY namespace, name";
    const std::string deleted = std::to_string(static_cast<int>(EventType::kDeleted));
    rc = Exec(db,
              "INSERT INTO objects(namespace, name, revision, data) SELECT namespace, name, revision, data "
              "FROM events WHERE revision IN (" + last_dropped + ") AND type != " + deleted +
              " ON CONFLICT(namespace, name) DO UPDATE SET revision = excluded.revision, data = excluded.data;"
              "DELETE FROM objects WHERE (namespace, name) IN (SELECT namespace, name FROM events "
              "WHERE revision IN (" + last_dropped + ") AND type = " + deleted + ");"
              "ALTER TABLE events RENAME TO events_before;"
              "CREATE TABLE events(slot INTEGER PRIMARY KEY, revision INTEGER NOT NULL, type INTEGER NOT NULL,"
              "  data BLOB NOT NULL, prev_revision INTEGER NOT NULL, previous BLOB, namespace TEXT, name TEXT);"
              "INSERT INTO events(slot, revision, type, data, prev_revision, previous, namespace, name)"
              "  SELECT revision % " + std::to_string(slots) + ", revision, type, data, prev_revision, previous,"
              "  namespace, name FROM events_before WHERE revision > " + std::to_string(keep_after) + ";"
              "DROP TABLE events_before;"
              "UPDATE meta SET value = " + std::to_string(keep_after) + " WHERE key = 'history_start';"
              "UPDATE meta SET value = " + std::to_string(newest) + " WHERE key = 'revision';"
              "UPDATE meta SET value = " + std::to_string(slots) + " WHERE key = 'slots';"
              "COMMIT;");
  }
  if (rc != SQLITE_OK) {
    Exec(db, "ROLLBACK");
    return {rc, doing};
  }
  return {};
}

}  // namespace deviceapi::store::sqlite_layout
