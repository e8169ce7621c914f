// SqliteBackend: the store's durable state in one SQLite database file.
//
// What is kept: every current object, the highest revision ever committed and
// the history the store retains (S14), so that after a restart revisions
// continue (S24) and watches or exact lists from a pre-restart revision
// resume (S25); and the revision gaps the store restarted over (backend.h:
// a restored backup lacks revisions it had issued), so that they stay
// refused after later restarts. The file is in WAL mode with one connection, used by one
// committer at a time; Commit returns only after the transaction committed
// (synchronous=NORMAL survives a process crash, FULL also a power cut).
//
// Faults (S26): Open fails with a one-line reason when the file is locked by
// another process, newer than this code's schema, corrupted or unreadable.
// A failed Commit rolls back, answers kUnavailable and is remembered as
// Fault() until a later Commit or Probe succeeds.
//
// Bounds (S27): events live in a fixed number of slots (revision modulo
// history_max_events + compact_events + Backend::kMaxCommitEvents), so that
// once the history is full a commit rewrites one slot in place instead of
// growing the table at one end and deleting at the other. Commit carries the
// events the store's history no longer retains into `objects` a run at a
// time (at most `compact_events` events or `compact_bytes` beyond the
// history), always before their slots are reused. While the history is
// held under its count bound by its byte bound, a run's slots are freed
// instead (their pages go to SQLite's free list), so the file follows the
// history, not the slot count.
// A store that resumes above the file's revision (RevisionGap) jumps by a
// whole number of slot counts (ResumeAt), so the slots stay in revision
// order across the gap, and a commit carries a slot's event into `objects`
// only when that slot is reused, whatever the revisions in between.
// A file laid out for another number of slots is laid out again on Open;
// history from before the last gap is carried into `objects` then.
//
// Thread-safe: Commit, Probe and Stats may run concurrently. Fault and Stats
// never wait for a commit or a probe: a disk that hangs in fsync does not
// stall the metrics and probes that read them (S32).
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
  // The store's S14 count bound (StoreOptions::history_max_events): sizes
  // the slots. A smaller value than the store's makes Commit drop persisted
  // history the store still holds (a watch from it after a restart is then
  // expired); a larger one costs only file space.
  std::uint64_t history_max_events = 10000;
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
  static constexpr int kSchemaVersion = 4;

  // Opens the file (creating it when missing), locks it against a second
  // server, and checks or migrates the schema. Errors are one line for the
  // operator (the process exits 2 on them).
  static Result<std::shared_ptr<SqliteBackend>> Open(SqliteOptions options);
  ~SqliteBackend() override;

  Result<Snapshot> Load() override;
  Result<bool> Commit(const std::vector<Event>& events, Revision history_start) override;
  // Kept as rows of `meta`; a compaction drops those its history passed.
  void KeepRestartGaps(const std::vector<RevisionGap>& gaps, Revision start) override;
  // `loaded` plus a whole number of slot counts: the events after it then
  // take the slots after `loaded`'s, in revision order (see Bounds above).
  Revision ResumeAt(Revision loaded, Revision at_least) const override;
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
