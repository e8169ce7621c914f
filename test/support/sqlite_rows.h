// Reads a database file the way another process would (sqlite3, backup
// tools): a fresh read-only connection per call. Header-only; test code only.
#pragma once

#include <sqlite3.h>

#include <string>

namespace deviceapi::testing {

// The integer the query `sql` returns from the SQLite file at `path`, or -1
// when the file cannot be opened or the query run (the message is in
// `*why` when given).
inline long long SqliteInt(const std::string& path, const std::string& sql, std::string* why = nullptr) {
  sqlite3* db = nullptr;
  sqlite3_stmt* q = nullptr;
  long long n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
    n = sqlite3_column_int64(q, 0);
  } else if (why) {
    *why = db ? sqlite3_errmsg(db) : "cannot open " + path;
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return n;
}

// Rows of `table`, or -1 as above.
inline int SqliteRows(const std::string& path, const std::string& table, std::string* why = nullptr) {
  return static_cast<int>(SqliteInt(path, "SELECT count(*) FROM \"" + table + "\"", why));
}

// The events the file retains: those after its history's start (older
// slots wait to be rewritten), or -1 as above.
inline int SqliteRetainedEvents(const std::string& path, std::string* why = nullptr) {
  return static_cast<int>(SqliteInt(
      path, "SELECT count(*) FROM events WHERE revision > (SELECT value FROM meta WHERE key = 'history_start')",
      why));
}

}  // namespace deviceapi::testing
