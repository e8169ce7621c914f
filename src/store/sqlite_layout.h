// The sqlite backend's file layout, set up once when a file is opened: the
// schema's migration steps (PRAGMA user_version) and the event slots (an
// event lives in slot revision mod the slot count). Internal to
// SqliteBackend, which holds the connection and turns a failed step into the
// operator's one line.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

namespace deviceapi::store::sqlite_layout {

// A step that failed: its SQLite code and what it was doing. rc SQLITE_OK:
// nothing failed.
struct Failure {
  int rc = SQLITE_OK;
  std::string doing;
  bool ok() const { return rc == SQLITE_OK; }
};

// Takes the file from schema version `from` to `to` (at most
// SqliteBackend::kSchemaVersion), one transaction per step.
Failure Migrate(sqlite3* db, int from, int to);

// Moves the retained events into a table laid out for `slots` slots, in one
// transaction, when the file was laid out for another count (or not yet:
// every file before schema 4). Events beyond `history_max_events` (this
// run's count bound) are carried into `objects` first: the store would drop
// them at load anyway (S14), and they would not fit their slots.
Failure LayOutSlots(sqlite3* db, std::uint64_t slots, std::uint64_t history_max_events);

}  // namespace deviceapi::store::sqlite_layout
