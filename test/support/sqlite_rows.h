// Reads a database file the way another process would (sqlite3, backup
// tools): a fresh read-only connection per call. Header-only; test code only.
#pragma once

#include <sqlite3.h>

#include <string>

namespace deviceapi::testing {

// Rows of `table` in the SQLite file at `path`, or -1 when the file cannot
// be opened or the table read (the message is in `*why` when given).
inline int SqliteRows(const std::string& path, const std::string& table, std::string* why = nullptr) {
  sqlite3* db = nullptr;
  sqlite3_stmt* q = nullptr;
  int n = -1;
  const std::string sql = "SELECT count(*) FROM \"" + table + "\"";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
    n = sqlite3_column_int(q, 0);
  } else if (why) {
    *why = db ? sqlite3_errmsg(db) : "cannot open " + path;
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return n;
}

}  // namespace deviceapi::testing
