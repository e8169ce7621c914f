// SqliteBackend: the store's durable state in one SQLite database file.
//
// What is kept: every current object, the highest revision ever committed and
// the history the store retains (S14), so that after a restart revisions
// continue (S24) and watches or exact lists from a pre-restart revision
// resume (S25). The file is in WAL mode with one connection, used by one
// committer at a time; Commit returns only after the transaction committed
// (synchronous=NORMAL survives a process crash, FULL also a power cut).
//
// Faults (S26): Open fails with a one-line reason when the file is locked by
// another process, newer than this code's schema, corrupted or unreadable.
// A failed Commit rolls back, answers kUnavailable and is remembered as
// Fault() until a later Commit or Probe succeeds.
//
// Bounds (S27): Commit drops events the store's history no longer retains,
// a run of them at a time (at most `compact_events` events or
// `compact_bytes` beyond the store's history); their pages go to SQLite's
// free list and are reused by later writes.
//
// Thread-safe: Commit, Probe and Stats may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "store/backend.h"

namespace deviceapi::store {

struct SqliteOptions {
  std::string path;        // the database file; its directory is created when missing
  bool full_sync = false;  // synchronous=FULL (power cut) instead of NORMAL (process crash)
  std::shared_ptr<const ObjectCodec> codec;
  // Compaction runs once this many events were dropped from the store's
  // history, or this many bytes were written, since the last one. A run
  // rewrites each changed object's row once however often it changed, so
  // long runs cost far less per write (each row of `objects` is a page write
  // in the log); the file holds at most one run beyond the history.
  std::uint64_t compact_events = 4096;
  std::size_t compact_bytes = 4u << 20;
  // Called after every successful commit with its duration in seconds.
  std::function<void(double)> on_commit;
};

struct SqliteStats {
  std::uint64_t commits = 0;        // transactions committed (each holds one batch)
  std::uint64_t commit_errors = 0;  // Commit or Probe failures
  std::uint64_t compactions = 0;    // commits that dropped history beyond the bounds
  std::uint64_t database_bytes = 0; // the file
  std::uint64_t wal_bytes = 0;      // the -wal file next to it
};

class SqliteBackend final : public Backend {
 public:
  // The schema this code writes. Older files are migrated on Open; newer ones
  // are refused.
  static constexpr int kSchemaVersion = 3;

  // Opens the file (creating it when missing), locks it against a second
  // server, and checks or migrates the schema. Errors are one line for the
  // operator (the process exits 2 on them).
  static Result<std::shared_ptr<SqliteBackend>> Open(SqliteOptions options);
  ~SqliteBackend() override;

  Result<Snapshot> Load() override;
  Result<bool> Commit(const std::vector<Event>& events, Revision history_start) override;
  bool Durable() const override { return true; }
  std::string Fault() const override;
  void Probe() override;
  const char* Name() const override { return "sqlite"; }

  SqliteStats Stats() const;

  // Test hook: creates `path` with the schema of `version` (1..kSchemaVersion)
  // and nothing else, as an older server would have left it.
  static Result<bool> CreateSchemaForTesting(const std::string& path, int version);

  class Impl;
  explicit SqliteBackend(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::store
