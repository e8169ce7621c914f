// Where committed changes go to survive a restart. The store keeps the full
// current state and its history in memory either way; a backend loads both at
// start and persists each batch of changes before the writes are acknowledged
// or become visible. Two backends exist: MemoryBackend (below: keeps nothing)
// and SqliteBackend (sqlite_backend.h: a database file).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/event.h"
#include "store/result.h"

namespace deviceapi::store {

// Turns objects into bytes and back; provided by the resource layer, because
// only it knows the payload type.
class ObjectCodec {
 public:
  virtual ~ObjectCodec() = default;
  virtual std::string Encode(const Object& object) const = 0;
  virtual Result<ObjectPtr> Decode(std::string_view bytes) const = 0;
};

// Revisions strictly between `after` and `before` that the store may have
// issued once but whose state it no longer has: a database restored from a
// backup, or one whose last commits a power cut took (--storage-sync=normal).
// A client that names one holds a state the store lost; it is answered "too
// old" and relists (S2, S24), instead of resuming as if nothing had changed.
struct RevisionGap {
  Revision after = 0;
  Revision before = 0;
  bool Contains(Revision r) const { return r > after && r < before; }
  bool operator==(const RevisionGap&) const = default;
};

class Backend {
 public:
  struct Snapshot {
    Revision revision = 0;  // highest revision the backend ever committed (0: none)
    std::vector<ObjectPtr> objects;
    // The retained history: events after `history_start`, oldest first, with
    // revisions strictly increasing. Watching from N >= history_start was
    // possible before the restart and is again after it (S25).
    Revision history_start = 0;
    std::vector<Event> history;
    // The gaps kept by KeepRestartGaps, oldest first.
    std::vector<RevisionGap> gaps;
  };
  virtual ~Backend() = default;
  // Called once before the store serves anything. An error ends the start:
  // the store never turns an unreadable database into an empty one (S26).
  virtual Result<Snapshot> Load() = 0;
  // The most events one Commit receives: the store commits a longer queue
  // as several batches. A backend may rely on it (SqliteBackend sizes its
  // event slots with it).
  static constexpr std::size_t kMaxCommitEvents = 256;

  // Persists `events` (consecutive revisions, oldest first, at most
  // kMaxCommitEvents) all or nothing, and forgets persisted history at or
  // below `history_start` (the store's history bounds, S14, S27). Returns once the batch is durable as far as the
  // backend promises; only then do the writes become visible. An error means
  // nothing of the batch was persisted; the store answers kUnavailable.
  virtual Result<bool> Commit(const std::vector<Event>& events, Revision history_start) = 0;
  // True when Commit does I/O: the store then commits outside its lock and
  // lets concurrent writers share one Commit (group commit). False: Commit is
  // cheap and runs under the store's write lock, one event at a time.
  virtual bool Durable() const { return false; }
  // Why the last Commit failed, "" while healthy (S26: readiness says why).
  virtual std::string Fault() const { return ""; }
  // While faulted, tries a tiny write so that the fault clears by itself once
  // storage works again, even when no client writes. Thread-safe.
  virtual void Probe() {}
  // Called by Open when the store starts above the highest revision Load
  // returned (it moves up to the clock, so that it is above any revision the
  // file may have lost): persists `gaps` in place of those kept before and
  // `start` as a revision issued, at once when it can, else with the next
  // Commit (before any revision above `start` is committed). A backend that
  // keeps nothing ignores it.
  virtual void KeepRestartGaps(const std::vector<RevisionGap>& /*gaps*/, Revision /*start*/) {}
  // The revision a store that loaded `loaded` resumes at, given that it must
  // not be below `at_least` (the clock): at least `at_least`, or `loaded`
  // when that is higher. A backend may round it up (SqliteBackend keeps its
  // event slots in revision order).
  virtual Revision ResumeAt(Revision loaded, Revision at_least) const { return std::max(loaded, at_least); }
  virtual const char* Name() const = 0;  // "memory", "sqlite", …
};

// Keeps nothing: a restart starts empty (providers re-register). The revision
// counter is still seeded from the clock so revisions never repeat (S2).
class MemoryBackend final : public Backend {
 public:
  Result<Snapshot> Load() override { return Snapshot{}; }
  Result<bool> Commit(const std::vector<Event>&, Revision) override { return true; }
  const char* Name() const override { return "memory"; }
};

}  // namespace deviceapi::store
