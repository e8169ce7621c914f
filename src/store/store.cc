// Store: the objects map, the revision counter, the history and the watch
// hub, behind one writer-preferring lock. See store.h for the contract.
#include "store/store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>

#include "store/await.h"
#include "store/history_ring.h"
#include "store/deferred_callbacks.h"
#include "store/revision_waiters.h"
#include "store/rw_lock.h"
#include "store/watch_hub.h"

namespace deviceapi::store {
namespace {

// The highest revision any store of this process has issued. A store seeded
// from the clock starts above it, so two stores created one after the other
// in one process never reuse a revision even if the first wrote faster than
// one revision per microsecond (S2). Across processes the clock alone keeps
// the order unless a process sustained more than a million writes a second.
std::atomic<Revision> g_highest_issued{0};

void NoteIssued(Revision r) {
  Revision seen = g_highest_issued.load(std::memory_order_relaxed);
  while (seen < r && !g_highest_issued.compare_exchange_weak(seen, r, std::memory_order_relaxed)) {
  }
}

Revision ClockSeed() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return std::max<Revision>(static_cast<Revision>(us), g_highest_issued.load(std::memory_order_relaxed) + 1);
}

Error Unavailable() { return MakeError(ErrorCode::kUnavailable, "store is shutting down"); }

Error TooOld(Revision requested, Revision oldest) {
  return MakeError(ErrorCode::kExpired, "too old resource version: " + std::to_string(requested) +
                                            " (oldest retained: " + std::to_string(oldest) + ")");
}

enum class WriteKind { kCreate, kUpdate, kDelete };

// Appends the objects of namespace `ns` (all when empty) to `out`, in key
// order (S10, S17). Runs under the store lock: pointer copies only.
void CollectNamespace(const std::map<ObjectKey, ObjectPtr>& state, const std::string& ns,
                      std::vector<ObjectPtr>* out) {
  auto it = ns.empty() ? state.begin() : state.lower_bound(ObjectKey{ns, ""});
  if (ns.empty()) out->reserve(state.size());
  for (; it != state.end() && (ns.empty() || it->first.namespace_name == ns); ++it) {
    if (it->second) out->push_back(it->second);
  }
}

}  // namespace

class Store::Impl {
 public:
  explicit Impl(StoreOptions o)
      : options(std::move(o)),
        backend(options.backend ? options.backend : std::make_shared<MemoryBackend>()),
        history(options.history_max_events, options.history_max_bytes),
        hub(std::make_shared<WatchHub>(options.max_watchers, options.bookmark_interval)),
        waiters(revision, options.max_revision_waiters, options.future_revision_wait) {
    options.backend = backend;
  }

  ~Impl() {
    Shutdown();
    if (committer.joinable()) {
      {
        std::lock_guard<std::mutex> l(stage_mu);
        stop_committer = true;  // after the queue it may still be draining
      }
      drain_cv.notify_one();
      committer.join();
    }
  }

  Result<bool> Open() {
    std::unique_lock<WriterPreferringMutex> lock(rw);
    if (shutdown.load()) return Unavailable();
    if (opened.load()) return MakeError(ErrorCode::kInvalid, "store is already open");
    auto snapshot = backend->Load();
    if (!snapshot.ok()) {
      return MakeError(ErrorCode::kInternal,
                       std::string("backend ") + backend->Name() + " failed to load: " + snapshot.error().message);
    }
    // A durable backend's revisions continue above the highest one it
    // returned (S24), and above the clock (S2): a file restored from a
    // backup, or one whose last commits a power cut took, may lack
    // revisions that clients hold, and those must not be issued again.
    Revision seed = options.initial_revision != 0 ? options.initial_revision : ClockSeed();
    const bool resumed = backend->Durable() && snapshot->revision != 0;
    Revision start = resumed ? snapshot->revision : std::max(seed, snapshot->revision);
    for (const ObjectPtr& object : snapshot->objects) {
      if (!object) continue;
      objects[object->key()] = object;
      start = std::max(start, object->revision());
    }
    const Revision loaded = start;
    if (resumed) start = backend->ResumeAt(start, seed);
    std::vector<RevisionGap> kept_gaps = std::move(snapshot->gaps);
    object_bytes = 0;
    for (const auto& [key, object] : objects) object_bytes += object->ByteSize();
    staged_bytes = object_bytes;
    LoadHistory(std::move(*snapshot), start);
    KeepGaps(std::move(kept_gaps), loaded, start);
    loaded_revision = resumed ? loaded : 0;
    hub->SetRevision(start);
    revision.store(start);
    staged_revision = start;
    staged_objects = objects.size();
    NoteIssued(start);
    hub->StartTimer();
    if (backend->Durable()) committer = std::thread([this] { CommitterLoop(); });
    opened.store(true);
    return true;
  }

  // Restores the history a durable backend kept (S25): it starts where the
  // backend says; the bounds of this run apply to it at once. With no history
  // behind it, it starts empty at `start`.
  void LoadHistory(Backend::Snapshot snapshot, Revision start) {
    if (snapshot.history_start == 0 && snapshot.history.empty()) {
      history.Reset(start);
      return;
    }
    history.Reset(std::min(snapshot.history_start, start));
    std::vector<Event> evicted;
    for (Event& event : snapshot.history) {
      if (event.revision <= history.Start() || event.revision > start || !event.object) continue;
      history.Append(std::move(event), &evicted);
    }
  }

  // The gaps that still matter: those above the history's start (a
  // revision below it is too old anyway), and the one between the file's
  // revision and `start`. A server that restarts over and over within one
  // history merges its oldest ones: revisions between two gaps then count
  // as lost too, so clients that hold them relist once; none is forgotten.
  void KeepGaps(std::vector<RevisionGap> kept, Revision loaded, Revision start) {
    const std::size_t before = kept.size();
    std::erase_if(kept, [&](const RevisionGap& g) { return g.before <= history.Start(); });
    bool changed = kept.size() != before;
    if (start > loaded + 1) {
      kept.push_back({loaded, start});
      changed = true;
    }
    while (kept.size() > kMaxRevisionGaps) {
      kept[1].after = kept[0].after;
      kept.erase(kept.begin());
      changed = true;
    }
    gaps = std::move(kept);
    if (changed) backend->KeepRestartGaps(gaps, start);
  }

  // The gap that holds `r`, if any.
  const RevisionGap* GapOf(Revision r) const {
    for (const RevisionGap& g : gaps) {
      if (g.Contains(r)) return &g;
    }
    return nullptr;
  }

  // kExpired for a revision the store may have issued before it restarted
  // from an older state (S2, S24): the client must relist.
  Result<bool> CheckNotLost(Revision r) const {
    if (r == 0) return true;
    if (const RevisionGap* g = GapOf(r)) {
      return MakeError(ErrorCode::kExpired,
                       "too old resource version: " + std::to_string(r) +
                           " (the server restarted from the state of revision " + std::to_string(g->after) +
                           " and resumed at " + std::to_string(g->before) + "; relist)");
    }
    return true;
  }

  void Shutdown() {
    {
      std::unique_lock<WriterPreferringMutex> lock(rw);
      if (shutdown.exchange(true)) return;
    }
    DeferredCallbacks ready;
    hub->Shutdown(&ready);
    hub->StopTimer();
    waiters.Shutdown();
    ready.Run();
  }

  // A write built against the state it applies to: the event to commit, or
  // the current object itself when the callback changed nothing (S1).
  struct Built {
    Event event;
    ObjectPtr noop;
  };

  // Checks and builds one write on `current` (null: no such object) with
  // revision `next`; `count` objects exist, taking `bytes` together. The
  // caller holds the lock that guards that state. Nothing changes here.
  // A refusal after the callback built the object runs the write-aborted
  // hook here, so callers never need to know which kind of refusal it was.
  template <typename Build>
  Result<Built> BuildWrite(WriteKind kind, const ObjectKey& key, const ObjectPtr& current, std::size_t count,
                           std::size_t bytes, Revision next, const Build& build, Store::ByteBound bound) {
    Built out;
    Event& event = out.event;
    event.revision = next;
    if (kind == WriteKind::kCreate) {
      if (current) {
        return MakeError(ErrorCode::kAlreadyExists, "object " + key.namespace_name + "/" + key.name + " already exists");
      }
      if (count >= options.max_objects) {
        return MakeError(ErrorCode::kResourceExhausted,
                         "too many objects: the store holds its limit of " + std::to_string(options.max_objects));
      }
      auto built = build(nullptr, next);
      if (!built.ok()) return built.error();
      event.type = EventType::kAdded;
      event.object = std::move(built).value();
    } else {
      if (!current) {
        return MakeError(ErrorCode::kNotFound, "object " + key.namespace_name + "/" + key.name + " not found");
      }
      auto built = build(current, next);
      if (!built.ok()) return built.error();
      if (kind == WriteKind::kUpdate && built.value() == current) {
        noop_updates.fetch_add(1, std::memory_order_relaxed);  // S1: no revision, no event
        out.noop = current;
        return out;
      }
      event.type = kind == WriteKind::kUpdate ? EventType::kModified : EventType::kDeleted;
      event.object = std::move(built).value();
      event.previous = current;
    }
    if (!event.object || !(event.object->key() == key) || event.object->revision() != next) {
      RunWriteAbortedHook(next - 1);
      return MakeError(ErrorCode::kInternal, "write callback for " + key.namespace_name + "/" + key.name +
                                                 " built no object, another key or a revision other than " +
                                                 std::to_string(next));
    }
    // S33: what the stored objects take together stays within its bound;
    // only a write that grows the total can be refused.
    const std::size_t old_bytes = current ? current->ByteSize() : 0;
    const std::size_t new_bytes = kind == WriteKind::kDelete ? 0 : event.object->ByteSize();
    const std::size_t total = bytes - old_bytes + new_bytes;
    if (new_bytes > old_bytes && bound == Store::ByteBound::kApplies && options.max_total_object_bytes != 0 &&
        total > options.max_total_object_bytes) {
      RunWriteAbortedHook(next - 1);
      return MakeError(ErrorCode::kResourceExhausted,
                       "stored objects would take " + std::to_string(total) + " bytes, over the limit of " +
                           std::to_string(options.max_total_object_bytes) + " bytes (" + key.namespace_name + "/" +
                           key.name + " takes " + std::to_string(new_bytes) +
                           "); writes that do not grow objects are still accepted");
    }
    return out;
  }

  // How a write changes the bytes of the stored objects (S33).
  static std::size_t BytesAfter(std::size_t bytes, const Event& event) {
    const std::size_t old_bytes = event.previous ? event.previous->ByteSize() : 0;
    const std::size_t new_bytes = event.type == EventType::kDeleted ? 0 : event.object->ByteSize();
    return bytes - old_bytes + new_bytes;
  }

  // A failed Commit as the client sees it: a storage fault is UNAVAILABLE
  // "storage unavailable" (S26, the reason is in Backend::Fault()); anything
  // else is a bug, INTERNAL with the detail for the log only (S23).
  Error CommitFailed(const Error& error) const {
    if (error.code == ErrorCode::kUnavailable) return MakeError(ErrorCode::kUnavailable, "storage unavailable");
    return MakeError(ErrorCode::kInternal,
                     std::string("backend ") + backend->Name() + " commit failed: " + error.message);
  }

  // Makes a committed event visible, all of it under the exclusive lock, so
  // no reader sees a partial write and no watcher misses or reorders it.
  void Apply(Event event, std::vector<Event>* evicted, DeferredCallbacks* ready) {
    RunWriteHook();
    const ObjectKey& key = event.object->key();
    switch (event.type) {
      case EventType::kAdded:
        objects.emplace(key, event.object);
        creates.fetch_add(1, std::memory_order_relaxed);
        break;
      case EventType::kModified:
        objects[key] = event.object;
        updates.fetch_add(1, std::memory_order_relaxed);
        break;
      default:
        objects.erase(key);
        deletes.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    const Revision next = event.revision;
    object_bytes = BytesAfter(object_bytes, event);
    hub->Publish(event, ready);
    history.Append(std::move(event), evicted);
    revision.store(next);
    NoteIssued(next);
  }

  Result<bool> CheckWritable() const {
    if (shutdown.load()) return Unavailable();
    if (!opened.load()) return MakeError(ErrorCode::kUnavailable, "store is not open");
    return true;
  }

  // The synchronous form of a write: what WriteAsync answers, waited for.
  template <typename Build>
  Result<ObjectPtr> Write(WriteKind kind, const ObjectKey& key, const Build& build,
                          Store::ByteBound bound = Store::ByteBound::kApplies) {
    if (!backend->Durable()) return WriteInMemory(kind, key, build, bound);
    return AwaitAnswer<ObjectPtr>([&](Store::WriteDone done) { GroupWrite(kind, key, build, bound, std::move(done)); });
  }

  template <typename Build>
  void WriteAsync(WriteKind kind, const ObjectKey& key, const Build& build, Store::ByteBound bound,
                  Store::WriteDone done) {
    if (backend->Durable()) return GroupWrite(kind, key, build, bound, std::move(done));
    done(WriteInMemory(kind, key, build, bound));
  }

  // The memory path: build, commit (a no-op) and apply under the write lock.
  template <typename Build>
  Result<ObjectPtr> WriteInMemory(WriteKind kind, const ObjectKey& key, const Build& build, Store::ByteBound bound) {
    DeferredCallbacks ready;
    // Events the history drops: freed after the lock is released, as
    // freeing an object costs about as much as building one.
    std::vector<Event> evicted;
    Revision committed_revision = 0;
    Result<ObjectPtr> result = [&]() -> Result<ObjectPtr> {
      std::unique_lock<WriterPreferringMutex> lock(rw);
      if (auto ok = CheckWritable(); !ok.ok()) return ok.error();
      auto it = objects.find(key);
      auto built = BuildWrite(kind, key, it == objects.end() ? nullptr : it->second, objects.size(),
                              object_bytes, revision.load() + 1, build, bound);
      if (!built.ok()) return built.error();
      if (built->noop) return built->noop;
      if (auto committed = backend->Commit({built->event}, history.Start()); !committed.ok()) {
        RunWriteAbortedHook(revision.load());
        return CommitFailed(committed.error());
      }
      ObjectPtr object = built->event.object;
      Apply(std::move(built->event), &evicted, &ready);
      committed_revision = object->revision();
      return object;
    }();
    if (committed_revision != 0) waiters.Reached(committed_revision);
    ready.Run();
    return result;
  }

  // One write waiting for its batch to commit (group commit).
  struct PendingWrite {
    Event event;
    Store::WriteDone done;
  };
  // A no-op write that matched a state still committing: answered once
  // that state is durable, like the write that made it.
  struct NoopWait {
    Revision wanted;
    ObjectPtr object;
    Store::WriteDone done;
  };
  using Answers = std::vector<std::pair<Store::WriteDone, Result<ObjectPtr>>>;

  // The durable path. Writers build against the staged state (visible
  // objects plus writes queued or being committed), take consecutive
  // revisions and queue; a writer that finds no commit running commits the
  // queue itself, and what queued meanwhile is committed by the committer
  // thread, one batch after another, each as one Backend::Commit. A batch
  // becomes visible in revision order, then its writers are answered (S24);
  // one fsync serves many writers. No writer's thread waits for another's
  // commit (S32): with gRPC's two callback threads on a 2-core node, a
  // waiting writer held half the server.
  template <typename Build>
  void GroupWrite(WriteKind kind, const ObjectKey& key, const Build& build, Store::ByteBound bound,
                  Store::WriteDone done) {
    std::unique_lock<std::mutex> l(stage_mu);
    auto answer_now = [&](Result<ObjectPtr> answer) {
      l.unlock();
      done(std::move(answer));
    };
    if (auto ok = CheckWritable(); !ok.ok()) return answer_now(ok.error());
    auto staged_it = staged.find(key);
    ObjectPtr current;
    if (staged_it != staged.end()) {
      current = staged_it->second.object;
    } else if (auto it = objects.find(key); it != objects.end()) {
      current = it->second;  // objects change only under stage_mu too
    }
    auto built = BuildWrite(kind, key, current, staged_objects, staged_bytes, staged_revision + 1, build, bound);
    if (!built.ok()) return answer_now(built.error());
    if (built->noop) {
      const Revision wanted = built->noop->revision();
      if (revision.load() >= wanted) return answer_now(built->noop);
      // The write that staged it is queued or committing: its batch answers this.
      noop_waits.push_back({wanted, built->noop, std::move(done)});
      return;
    }
    auto pending = std::make_unique<PendingWrite>();
    pending->event = std::move(built->event);
    pending->done = std::move(done);
    staged_revision = pending->event.revision;
    staged_bytes = BytesAfter(staged_bytes, pending->event);
    if (pending->event.type == EventType::kDeleted) {
      staged[key] = {nullptr, pending->event.revision};
      --staged_objects;
    } else {
      staged[key] = {pending->event.object, pending->event.revision};
      if (pending->event.type == EventType::kAdded) ++staged_objects;
    }
    queue.push_back(std::move(pending));
    if (committing) return;  // the running commit's committer takes it next
    committing = true;
    Committed committed = CommitBatch(l);
    if (KeepCommitting()) {
      // What queued during this commit goes to the committer thread, so
      // this thread returns to serving calls.
      drain_requested = true;
      drain_cv.notify_one();
    }
    l.unlock();
    committed.Answer(waiters);
  }

  // Who commits next, decided with stage_mu held after a batch left the
  // queue (or before the first): the holder of `committing` keeps it while
  // writes are queued, and gives it up otherwise, so that the next write
  // commits on its own thread.
  bool KeepCommitting() {
    if (!queue.empty()) return true;
    committing = false;
    return false;
  }

  // Commits whatever the inline committers leave queued, batch after batch.
  void CommitterLoop() {
    std::unique_lock<std::mutex> l(stage_mu);
    for (;;) {
      drain_cv.wait(l, [&] { return drain_requested || stop_committer; });
      if (!drain_requested) return;
      drain_requested = false;
      // Holds `committing` until a batch leaves the queue empty, and gives it
      // up before answering that batch: a write arriving from then on
      // commits on its own thread again.
      bool more = KeepCommitting();
      while (more) {
        Committed committed = CommitBatch(l);
        more = KeepCommitting();
        l.unlock();
        committed.Answer(waiters);
        l.lock();
      }
    }
  }

  // A batch committed (or failed) and applied: what is left to do once
  // stage_mu is released.
  struct Committed {
    Revision reached = 0;  // 0: the commit failed
    DeferredCallbacks ready;
    Answers answers;
    std::vector<std::unique_ptr<PendingWrite>> batch;
    std::vector<Event> evicted;
    // Wakes the reads waiting for the batch's revisions and the watchers,
    // answers the writers, and frees what the history dropped.
    void Answer(RevisionWaiters& waiters) {
      if (reached != 0) waiters.Reached(reached);
      ready.Run();
      for (auto& [done, answer] : answers) done(std::move(answer));
      answers.clear();
      batch.clear();
      evicted.clear();
    }
  };

  // Commits the queued writes (up to Backend::kMaxCommitEvents of them) as
  // one batch and makes it visible. Called with stage_mu held and
  // `committing` set; releases stage_mu during the backend's I/O and holds
  // it again on return. The caller decides who commits next before it
  // answers the batch's writers (Committed::Answer, without stage_mu): a
  // writer answered before that decision sends its next write into a commit
  // that looks still running, and it would wait for the committer thread to
  // wake.
  Committed CommitBatch(std::unique_lock<std::mutex>& l) {
    Committed out;
    // At most the backend's batch; the rest stays queued for the next one.
    const std::size_t size = std::min(queue.size(), Backend::kMaxCommitEvents);
    out.batch.reserve(size);
    for (std::size_t i = 0; i < size; ++i) {
      out.batch.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    std::vector<Event> events;
    events.reserve(out.batch.size());
    for (const auto& p : out.batch) events.push_back(p->event);
    const Revision history_start = history.Start();  // changes only under stage_mu
    l.unlock();
    auto committed = backend->Commit(events, history_start);
    events.clear();
    out.answers.reserve(out.batch.size());
    l.lock();
    if (committed.ok()) {
      std::unique_lock<WriterPreferringMutex> lock(rw);
      for (const auto& p : out.batch) {
        Apply(p->event, &out.evicted, &out.ready);
        // The staged entry is now the visible state unless a later write
        // staged over it. By revision, not by object: every deletion
        // stages null, and a delete, create, delete of one key in three
        // batches must keep the last one staged until it is visible.
        const ObjectKey& key = p->event.object->key();
        auto it = staged.find(key);
        if (it != staged.end() && it->second.revision == p->event.revision) staged.erase(it);
        out.answers.emplace_back(std::move(p->done), p->event.object);
      }
      out.reached = revision.load();
      std::erase_if(noop_waits, [&](NoopWait& w) {
        if (w.wanted > out.reached) return false;
        out.answers.emplace_back(std::move(w.done), std::move(w.object));
        return true;
      });
    } else {
      // Everything queued since was built on the failed batch: it fails
      // too, and the staged state falls back to the visible one.
      const Error error = CommitFailed(committed.error());
      for (auto& p : out.batch) out.answers.emplace_back(std::move(p->done), error);
      for (auto& p : queue) out.answers.emplace_back(std::move(p->done), error);
      for (auto& w : noop_waits) {
        out.answers.emplace_back(std::move(w.done), MakeError(ErrorCode::kUnavailable, "storage unavailable"));
      }
      queue.clear();
      noop_waits.clear();
      staged.clear();
      staged_revision = revision.load();
      staged_objects = objects.size();
      staged_bytes = object_bytes;
      ++commit_failures;
      RunWriteAbortedHook(staged_revision);
    }
    return out;
  }

  // Blocks until the store reached `wanted` (S9), up to
  // future_revision_wait: the synchronous form of Store::WaitForRevision,
  // for callers of the blocking Get/List/Watch.
  Result<bool> WaitForRevision(Revision wanted) const {
    if (revision.load() >= wanted) return true;
    auto reached = std::make_shared<std::promise<Result<bool>>>();
    auto future = reached->get_future();
    auto added = waiters.Add(wanted, [reached](Result<bool> r) { reached->set_value(std::move(r)); });
    if (!added.ok()) return added;
    return future.get();
  }

  // The objects the next write builds on: the visible ones overlaid with
  // the staged writes. The caller holds stage_mu (durable) or the write lock.
  std::vector<ObjectPtr> WriteBase() const {
    std::vector<ObjectPtr> base;
    base.reserve(objects.size() + staged.size());
    for (const auto& [key, object] : objects) {
      if (staged.find(key) == staged.end()) base.push_back(object);
    }
    for (const auto& [key, entry] : staged) {
      if (entry.object) base.push_back(entry.object);
    }
    return base;
  }

  // Called, with the lock that guards the write base held, when a write
  // whose callback had run is not made.
  void RunWriteAbortedHook(Revision base_revision) {
    if (write_aborted_hook) write_aborted_hook(WriteBase(), base_revision);
  }

  void RunWriteHook() {
    if (!has_hook.load(std::memory_order_acquire)) return;
    std::shared_ptr<const std::function<void()>> hook;
    {
      std::lock_guard<std::mutex> l(hook_mu);
      hook = write_hook;
    }
    if (hook && *hook) (*hook)();
  }

  Result<bool> CheckServing() const {
    if (shutdown.load()) return Unavailable();
    if (!opened.load()) return MakeError(ErrorCode::kUnavailable, "store is not open");
    return true;
  }

  // The state at `at` (S9 exact): current objects with every later event
  // rolled back. Caller holds the read lock and checked at >= history.Start().
  std::map<ObjectKey, ObjectPtr> StateAt(Revision at) const {
    std::map<ObjectKey, ObjectPtr> state = objects;
    for (auto it = history.rbegin(); it != history.rend() && it->revision > at; ++it) {
      const ObjectKey& key = it->object->key();
      if (it->type == EventType::kAdded) {
        state.erase(key);
      } else {
        state[key] = it->previous;
      }
    }
    return state;
  }

  StoreOptions options;
  std::shared_ptr<Backend> backend;

  mutable WriterPreferringMutex rw;  // guards objects and history
  std::map<ObjectKey, ObjectPtr> objects;  // ordered by namespace, then name (S10)
  std::size_t object_bytes = 0;            // sum of their ByteSize() (S33)
  HistoryRing history;
  // Revisions lost across restarts (S2, S24); set by Open, then read-only.
  std::vector<RevisionGap> gaps;
  Revision loaded_revision = 0;
  static constexpr std::size_t kMaxRevisionGaps = 16;
  std::atomic<Revision> revision{0};  // written only under rw (exclusive)
  std::atomic<bool> opened{false};
  std::atomic<bool> shutdown{false};

  // Group commit (durable backends). Lock order: stage_mu, then rw.
  std::mutex stage_mu;
  // The last write queued or committing, by key; object null: deleted.
  // Lookups see these first, then `objects`.
  struct Staged {
    ObjectPtr object;
    Revision revision = 0;  // of the write that staged it
  };
  std::map<ObjectKey, Staged> staged;
  Revision staged_revision = 0;     // the last revision handed to a write
  std::size_t staged_objects = 0;   // objects once everything staged is visible
  std::size_t staged_bytes = 0;     // their ByteSize() sum then (S33)
  std::deque<std::unique_ptr<PendingWrite>> queue;
  std::vector<NoopWait> noop_waits;
  bool committing = false;          // a batch is being committed, or the committer has the queue
  std::uint64_t commit_failures = 0;
  std::condition_variable drain_cv;  // wakes the committer thread
  bool drain_requested = false;
  bool stop_committer = false;
  std::thread committer;             // durable backends only; joined by ~Impl

  const std::shared_ptr<WatchHub> hub;

  mutable RevisionWaiters waiters;  // future-revision waits (S9, S32)

  std::mutex hook_mu;
  std::shared_ptr<const std::function<void()>> write_hook;
  Store::WriteAbortedFn write_aborted_hook;  // guarded by stage_mu and rw
  std::atomic<bool> has_hook{false};

  std::atomic<std::uint64_t> creates{0}, updates{0}, deletes{0}, noop_updates{0}, watches_expired{0};
};

Store::Store(StoreOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Store::~Store() = default;

Result<bool> Store::Open() { return impl_->Open(); }

Result<ObjectPtr> Store::Create(const ObjectKey& key, const CreateFn& build) {
  return impl_->Write(WriteKind::kCreate, key, [&](const ObjectPtr&, Revision next) { return build(next); });
}

Result<ObjectPtr> Store::Update(const ObjectKey& key, const UpdateFn& build, ByteBound bound) {
  return impl_->Write(WriteKind::kUpdate, key, build, bound);
}

Result<ObjectPtr> Store::Delete(const ObjectKey& key, const DeleteFn& build) {
  return impl_->Write(WriteKind::kDelete, key, build);
}

void Store::CreateAsync(const ObjectKey& key, const CreateFn& build, WriteDone done) {
  impl_->WriteAsync(
      WriteKind::kCreate, key, [&](const ObjectPtr&, Revision next) { return build(next); }, ByteBound::kApplies,
      std::move(done));
}

void Store::UpdateAsync(const ObjectKey& key, const UpdateFn& build, ByteBound bound, WriteDone done) {
  impl_->WriteAsync(WriteKind::kUpdate, key, build, bound, std::move(done));
}

void Store::DeleteAsync(const ObjectKey& key, const DeleteFn& build, WriteDone done) {
  impl_->WriteAsync(WriteKind::kDelete, key, build, ByteBound::kApplies, std::move(done));
}

Result<ObjectPtr> Store::Get(const ObjectKey& key, const GetOptions& options) const {
  if (auto ok = impl_->CheckServing(); !ok.ok()) return ok.error();
  if (auto kept = impl_->CheckNotLost(options.min_revision); !kept.ok()) return kept.error();
  if (auto reached = impl_->WaitForRevision(options.min_revision); !reached.ok()) return reached.error();
  std::shared_lock<WriterPreferringMutex> lock(impl_->rw);
  auto it = impl_->objects.find(key);
  if (it == impl_->objects.end()) {
    return MakeError(ErrorCode::kNotFound, "object " + key.namespace_name + "/" + key.name + " not found");
  }
  return it->second;
}

Result<ListResult> Store::List(const ListOptions& options) const {
  if (auto ok = impl_->CheckServing(); !ok.ok()) return ok.error();
  if (auto kept = impl_->CheckNotLost(options.revision); !kept.ok()) return kept.error();
  if (auto reached = impl_->WaitForRevision(options.revision); !reached.ok()) return reached.error();
  ListResult result;
  {
    // Under the lock only the snapshot: the namespace's range of pointers.
    std::shared_lock<WriterPreferringMutex> lock(impl_->rw);
    const Revision current = impl_->revision.load();
    if (options.exact && options.revision != 0 && options.revision != current) {
      if (options.revision < impl_->history.Start()) return TooOld(options.revision, impl_->history.Start());
      auto state = impl_->StateAt(options.revision);
      lock.unlock();
      CollectNamespace(state, options.namespace_name, &result.items);
      result.revision = options.revision;
    } else {
      CollectNamespace(impl_->objects, options.namespace_name, &result.items);
      result.revision = current;
    }
  }
  // Label filtering after the lock is released: a costly selector delays
  // only its own caller, never a writer (S32).
  if (!options.selector.Empty()) {
    std::erase_if(result.items, [&](const ObjectPtr& o) { return !options.selector.Matches(o->labels()); });
  }
  return result;
}

Result<std::shared_ptr<Watcher>> Store::Watch(const WatchOptions& options) {
  if (auto ok = impl_->CheckServing(); !ok.ok()) return ok.error();
  if (options.start) {
    if (auto kept = impl_->CheckNotLost(*options.start); !kept.ok()) {
      impl_->watches_expired.fetch_add(1, std::memory_order_relaxed);
      return kept.error();
    }
    if (auto reached = impl_->WaitForRevision(*options.start); !reached.ok()) return reached.error();
  }
  SelectionPredicate filter{options.namespace_name, options.selector};
  WatcherSettings settings;
  settings.queue_capacity =
      options.queue_capacity != 0 ? options.queue_capacity : impl_->options.watcher_queue_capacity;
  settings.allow_bookmarks = options.allow_bookmarks;
  settings.timeout = options.timeout;

  // Backlog and registration under one read lock: no write lands between
  // them, so nothing is missed or repeated at the boundary (S12, S13). The
  // backlog is filtered only after the lock is released (S32); live events
  // published meanwhile wait behind it.
  std::vector<Event> backlog;
  std::shared_ptr<Watcher> watcher;
  {
    std::shared_lock<WriterPreferringMutex> lock(impl_->rw);
    if (impl_->shutdown.load()) return Unavailable();
    const Revision current = impl_->revision.load();
    if (options.start) {
      if (*options.start < impl_->history.Start()) {
        impl_->watches_expired.fetch_add(1, std::memory_order_relaxed);  // S14
        return TooOld(*options.start, impl_->history.Start());
      }
      backlog = impl_->history.Since(*options.start);
      // Revisions that carry no event (the jump of a restart, a restored
      // backup's gap) would leave a watcher behind the revision a list
      // shows until the next write or idle bookmark, up to a minute: a
      // client that waits to reach that revision before trusting its cache
      // would wait as long. One bookmark at the current revision ends the
      // backlog instead; every revision has an event otherwise, so this
      // adds nothing then (S15, S25).
      const Revision replayed_to = backlog.empty() ? *options.start : backlog.back().revision;
      if (options.allow_bookmarks && replayed_to < current) {
        Event caught_up;
        caught_up.type = EventType::kBookmark;
        caught_up.revision = current;
        backlog.push_back(std::move(caught_up));
      }
    } else {
      // Synthetic ADDEDs carry the snapshot's revision, so event revisions
      // never go down and last_revision() after them is a valid resume point.
      std::vector<ObjectPtr> objects;
      CollectNamespace(impl_->objects, options.namespace_name, &objects);
      backlog.reserve(objects.size() + 1);
      for (ObjectPtr& object : objects) {
        Event e;
        e.type = EventType::kAdded;
        e.revision = current;
        e.object = std::move(object);
        backlog.push_back(std::move(e));
      }
      if (options.send_initial_events) {
        Event end;
        end.type = EventType::kBookmark;
        end.revision = current;
        end.initial_events_end = true;  // S15
        backlog.push_back(std::move(end));
      }
    }
    auto registered = impl_->hub->Register(filter, settings);
    if (!registered.ok()) return registered.error();
    watcher = std::move(registered).value();
  }
  if (!filter.MatchesAll()) {
    std::vector<Event> matching;
    for (const Event& e : backlog) {
      Event out;
      if (filter.Transform(e, &out)) matching.push_back(std::move(out));
    }
    backlog.swap(matching);
  }
  DeferredCallbacks ready;
  impl_->hub->StartBacklog(*watcher, std::move(backlog), &ready);
  ready.Run();
  return watcher;
}

void Store::WaitForRevision(Revision revision, std::function<void(Result<bool>)> done, WaiterLimit limit) const {
  if (auto ok = impl_->CheckServing(); !ok.ok()) {
    done(ok.error());
    return;
  }
  if (auto added = impl_->waiters.Add(revision, done, limit == WaiterLimit::kApplies); !added.ok()) {
    done(added.error());
  }
}

Revision Store::CurrentRevision() const { return impl_->revision.load(); }

StoreStats Store::Stats() const {
  StoreStats s;
  {
    std::shared_lock<WriterPreferringMutex> lock(impl_->rw);
    s.objects = impl_->objects.size();
    s.object_bytes = impl_->object_bytes;
    s.current_revision = impl_->revision.load();
    s.history_events = impl_->history.size();
    s.history_bytes = impl_->history.bytes();
    s.oldest_retained_revision = impl_->history.OldestEventRevision();
    s.loaded_revision = impl_->loaded_revision;
  }
  s.creates = impl_->creates.load();
  s.updates = impl_->updates.load();
  s.deletes = impl_->deletes.load();
  s.noop_updates = impl_->noop_updates.load();
  s.active_watchers = impl_->hub->active_watchers();
  s.events_delivered = impl_->hub->events_delivered();
  s.watchers_evicted = impl_->hub->watchers_evicted();
  s.watches_expired = impl_->watches_expired.load();
  s.revision_waiters = impl_->waiters.size();
  return s;
}

const StoreOptions& Store::options() const { return impl_->options; }

void Store::Shutdown() { impl_->Shutdown(); }

void Store::SetWriteAbortedHook(WriteAbortedFn hook) {
  // The hook runs under stage_mu (durable writes) or the write lock: holding
  // both, in the order writers take them, no write is running it.
  std::lock_guard<std::mutex> staging(impl_->stage_mu);
  std::unique_lock<WriterPreferringMutex> lock(impl_->rw);
  impl_->write_aborted_hook = std::move(hook);
}

void Store::SetWriteHookForTesting(std::function<void()> hook) {
  std::lock_guard<std::mutex> l(impl_->hook_mu);
  impl_->write_hook = hook ? std::make_shared<const std::function<void()>>(std::move(hook)) : nullptr;
  impl_->has_hook.store(impl_->write_hook != nullptr, std::memory_order_release);
}

std::size_t Store::WaitingReadersForTesting() const { return impl_->rw.waiting_readers(); }

}  // namespace deviceapi::store
