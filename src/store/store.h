// The store: the node's GPU objects with Kubernetes list/watch semantics.
//
// Thread-safe. Every public method may be called from any thread. Reads return
// shared immutable snapshots (S11); writes take the next store-wide revision
// (S1) under a writer-preferring lock (S8) and fan the resulting event out to
// watchers without ever waiting for them (S16).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "labels/selector.h"
#include "store/backend.h"
#include "store/event.h"
#include "store/object.h"
#include "store/result.h"
#include "store/watcher.h"

namespace deviceapi::store {

struct StoreOptions {
  std::size_t max_objects = 4096;                     // S19
  // S33: the sum of the stored objects' ByteSize(). A create or an update
  // that would take the sum past it fails with kResourceExhausted; a write
  // that does not grow the sum (a delete, an update that shrinks or keeps an
  // object's size) is always accepted. 0: no bound.
  std::size_t max_total_object_bytes = 128u << 20;
  std::size_t history_max_events = 10000;             // S14
  std::size_t history_max_bytes = 16u << 20;          // S14
  std::size_t max_watchers = 1024;                    // S19
  std::size_t watcher_queue_capacity = 1024;          // S16: events queued per watcher
  std::chrono::milliseconds bookmark_interval{60000}; // S15
  std::chrono::milliseconds future_revision_wait{3000};  // S9
  // Calls waiting for a future revision at once (S32, S33); past it they are
  // refused with kResourceExhausted.
  std::size_t max_revision_waiters = 1024;
  // 0: seed the revision counter from the clock in microseconds, so a new
  // process starts above anything an earlier one issued (S2).
  Revision initial_revision = 0;
  std::shared_ptr<Backend> backend;  // null: MemoryBackend
};

struct GetOptions {
  // 0: current state. N: a state not older than N; waits up to
  // future_revision_wait for N, then kTooLargeRevision (S9).
  Revision min_revision = 0;
};

struct ListOptions {
  std::string namespace_name;  // empty: all namespaces; else exact match (S17)
  labels::Selector selector;
  Revision revision = 0;  // as GetOptions::min_revision, or the exact revision
  bool exact = false;     // serve the state exactly at `revision` from history (S9)
};

struct ListResult {
  Revision revision = 0;             // the revision the snapshot was taken at (S10)
  std::vector<ObjectPtr> items;      // sorted by namespace, then name
};

struct WatchOptions {
  std::string namespace_name;  // empty: all
  labels::Selector selector;
  // nullopt ("" or "0" on the wire): synthetic ADDED for every current
  // matching object, then live events (S13). N: every event after N (S12);
  // kExpired if N is older than the history retains (S14).
  std::optional<Revision> start;
  // With start == nullopt: end the synthetic ADDED events with a BOOKMARK
  // whose initial_events_end is true (S15).
  bool send_initial_events = false;
  // BOOKMARKs while idle (S15); and, for a watch from N whose last event
  // after N is below the current revision (revisions without an event: a
  // restart's jump), one BOOKMARK at the current revision right after them.
  bool allow_bookmarks = false;
  std::chrono::milliseconds timeout{0};    // 0: none; else ends with kTimeout (S18)
  std::size_t queue_capacity = 0;          // 0: StoreOptions::watcher_queue_capacity
};

// Write callbacks run under the store's write lock with the revision the write
// will take if it succeeds. They build the complete new immutable object
// (revision included) or return an Error, which aborts the write without
// consuming a revision.
using CreateFn = std::function<Result<ObjectPtr>(Revision next)>;
// Return `current` itself to signal a no-op: no revision, no event (S1).
using UpdateFn = std::function<Result<ObjectPtr>(const ObjectPtr& current, Revision next)>;
// Returns the DELETED event's object: the last state stamped with `next` (S7).
using DeleteFn = std::function<Result<ObjectPtr>(const ObjectPtr& current, Revision next)>;

struct StoreStats {
  std::size_t objects = 0;
  std::size_t object_bytes = 0;  // sum of the stored objects' ByteSize() (S33)
  Revision current_revision = 0;
  std::size_t history_events = 0;
  std::size_t history_bytes = 0;
  Revision oldest_retained_revision = 0;  // 0 when the history is empty
  // The highest revision the backend returned at Open (0: none); the store
  // resumed at or above it, and revisions between it and the start are a
  // gap (RevisionGap).
  Revision loaded_revision = 0;
  std::uint64_t creates = 0, updates = 0, deletes = 0, noop_updates = 0;
  std::size_t active_watchers = 0;
  std::uint64_t events_delivered = 0;   // events handed out by Watcher::Next
  std::uint64_t watchers_evicted = 0;   // ended as too slow (S16)
  std::uint64_t watches_expired = 0;    // refused as too old (S14)
  std::size_t revision_waiters = 0;     // calls waiting for a future revision (S9)
};

class Store {
 public:
  explicit Store(StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Loads the backend. Must succeed before anything else is called.
  Result<bool> Open();

  Result<ObjectPtr> Create(const ObjectKey& key, const CreateFn& build);
  // `bound`: whether S33's byte bound applies. Only the server's own safety
  // writes are exempt (lease expiry, S28): a store that clients filled to
  // the bound must not keep a stopped provider's conditions True.
  enum class ByteBound { kApplies, kExempt };
  Result<ObjectPtr> Update(const ObjectKey& key, const UpdateFn& build, ByteBound bound = ByteBound::kApplies);
  Result<ObjectPtr> Delete(const ObjectKey& key, const DeleteFn& build);

  // The writes in a form that holds no thread while a durable backend
  // commits (S32). `build` runs on the calling thread before the call
  // returns, so it may refer to the caller's locals. `done` is called exactly
  // once with what the synchronous form would return:
  //   - on this thread before the call returns, when the answer is known at
  //     once (the memory backend; a refusal; a no-op on a durable state);
  //   - else on the thread that commits the write's batch, once the batch is
  //     durable and visible (S24), with no store lock held.
  // `done` must be quick and must not block; it may call the store.
  using WriteDone = std::function<void(Result<ObjectPtr>)>;
  void CreateAsync(const ObjectKey& key, const CreateFn& build, WriteDone done);
  void UpdateAsync(const ObjectKey& key, const UpdateFn& build, ByteBound bound, WriteDone done);
  void DeleteAsync(const ObjectKey& key, const DeleteFn& build, WriteDone done);

  // Reads at a future revision block the calling thread up to
  // future_revision_wait (S9). A server that must not park a thread (S32)
  // calls WaitForRevision first: the read then finds the revision reached.
  // A revision in a gap the store restarted over (RevisionGap: a restored
  // backup, commits a power cut took) is kExpired "too old resource
  // version", for Get and List as for Watch: the caller holds a state the
  // store no longer has and must relist (S2, S24).
  Result<ObjectPtr> Get(const ObjectKey& key, const GetOptions& options = {}) const;
  Result<ListResult> List(const ListOptions& options = {}) const;
  Result<std::shared_ptr<Watcher>> Watch(const WatchOptions& options);

  // The asynchronous wait behind S9, which holds no thread while it waits
  // (S32): calls `done` exactly once with
  //   true                when the store has reached `revision` (at once, on
  //                       this thread, when it already has; else on the
  //                       thread of the write that reaches it),
  //   kTooLargeRevision   after future_revision_wait (on the store's timer
  //                       thread),
  //   kUnavailable        when the store is not serving or shuts down,
  //   kResourceExhausted  at once when max_revision_waiters calls wait,
  //                       unless `limit` is kExempt.
  // `done` runs with no store lock held, so it may call Get/List/Watch; it
  // must be quick and must not block. Only the server's own safety waits
  // are exempt from the limit (lease expiry, S28): clients' reads that took
  // every place must not hold a stopped provider's conditions True.
  enum class WaiterLimit { kApplies, kExempt };
  void WaitForRevision(Revision revision, std::function<void(Result<bool>)> done,
                       WaiterLimit limit = WaiterLimit::kApplies) const;

  Revision CurrentRevision() const;
  StoreStats Stats() const;
  const StoreOptions& options() const;

  // Write callbacks that keep state of their own beside the store (a
  // registry's admission: the lease table, lease_controller.h) learn here of
  // a write they saw that is not made after all: refused after its callback
  // had run (S33's byte bound), or lost with its batch's failed commit (S26,
  // which drops every write staged since as well). The hook gets the objects
  // the next write builds on, in no particular order, and rebuilds its state
  // from them; and `base_revision`, the revision of the last write still to
  // be made (the next write takes base_revision + 1): a revision above it
  // that a callback saw is not issued unless a later write takes it. It runs under the store's write lock, as the callbacks do: it
  // must be quick and must not call the store. Set (or cleared, with null)
  // at any time; once the setter returns, no call of the old hook runs.
  using WriteAbortedFn = std::function<void(const std::vector<ObjectPtr>& write_base, Revision base_revision)>;
  void SetWriteAbortedHook(WriteAbortedFn hook);
  // Ends every watch with kShutdown and refuses later calls with kUnavailable.
  void Shutdown();

  // Test hook (S8): called while a write holds the write lock, after the
  // callback built the object and before the write becomes visible.
  void SetWriteHookForTesting(std::function<void()> hook);

  // Test probe (S8): how many reads are blocked waiting for the store lock.
  std::size_t WaitingReadersForTesting() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::store
