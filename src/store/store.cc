// Store: the objects map, the revision counter, the history and the watch
// hub, behind one writer-preferring lock. See store.h for the contract.
#include "store/store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "store/history_ring.h"
#include "store/ready_list.h"
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

}  // namespace

class Store::Impl {
 public:
  explicit Impl(StoreOptions o)
      : options(std::move(o)),
        backend(options.backend ? options.backend : std::make_shared<MemoryBackend>()),
        history(options.history_max_events, options.history_max_bytes),
        hub(std::make_shared<WatchHub>(options.max_watchers, options.bookmark_interval)) {
    options.backend = backend;
  }

  ~Impl() { Shutdown(); }

  Result<bool> Open() {
    std::unique_lock<WriterPreferringMutex> lock(rw);
    if (shutdown.load()) return Unavailable();
    if (opened.load()) return MakeError(ErrorCode::kInvalid, "store is already open");
    auto snapshot = backend->Load();
    if (!snapshot.ok()) {
      return MakeError(ErrorCode::kInternal,
                       std::string("backend ") + backend->Name() + " failed to load: " + snapshot.error().message);
    }
    Revision seed = options.initial_revision != 0 ? options.initial_revision : ClockSeed();
    Revision start = std::max(seed, snapshot->revision);
    for (const ObjectPtr& object : snapshot->objects) {
      if (!object) continue;
      objects[object->key()] = object;
      start = std::max(start, object->revision());
    }
    history.Reset(start);
    hub->SetRevision(start);
    revision.store(start);
    NoteIssued(start);
    hub->StartTimer();
    opened.store(true);
    return true;
  }

  void Shutdown() {
    {
      std::unique_lock<WriterPreferringMutex> lock(rw);
      if (shutdown.exchange(true)) return;
    }
    ReadyList ready;
    hub->Shutdown(&ready);
    hub->StopTimer();
    WakeRevisionWaiters();
    ready.Run();
  }

  template <typename Build>
  Result<ObjectPtr> Write(WriteKind kind, const ObjectKey& key, const Build& build) {
    ReadyList ready;
    bool wrote = false;
    // Events the history drops: freed after the lock is released, as
    // freeing an object costs about as much as building one.
    std::vector<Event> evicted;
    Result<ObjectPtr> result = [&]() -> Result<ObjectPtr> {
      std::unique_lock<WriterPreferringMutex> lock(rw);
      if (shutdown.load()) return Unavailable();
      if (!opened.load()) return MakeError(ErrorCode::kUnavailable, "store is not open");
      const Revision next = revision.load() + 1;
      auto it = objects.find(key);
      Event event;
      event.revision = next;
      if (kind == WriteKind::kCreate) {
        if (it != objects.end()) {
          return MakeError(ErrorCode::kAlreadyExists,
                           "object " + key.namespace_name + "/" + key.name + " already exists");
        }
        if (objects.size() >= options.max_objects) {
          return MakeError(ErrorCode::kResourceExhausted,
                           "too many objects: the store holds its limit of " + std::to_string(options.max_objects));
        }
        auto built = build(nullptr, next);
        if (!built.ok()) return built.error();
        event.type = EventType::kAdded;
        event.object = std::move(built).value();
      } else {
        if (it == objects.end()) {
          return MakeError(ErrorCode::kNotFound, "object " + key.namespace_name + "/" + key.name + " not found");
        }
        auto built = build(it->second, next);
        if (!built.ok()) return built.error();
        if (kind == WriteKind::kUpdate && built.value() == it->second) {
          noop_updates.fetch_add(1, std::memory_order_relaxed);  // S1: no revision, no event
          return it->second;
        }
        event.type = kind == WriteKind::kUpdate ? EventType::kModified : EventType::kDeleted;
        event.object = std::move(built).value();
        event.previous = it->second;
      }
      if (!event.object || !(event.object->key() == key) || event.object->revision() != next) {
        return MakeError(ErrorCode::kInternal, "write callback for " + key.namespace_name + "/" + key.name +
                                                   " built no object, another key or a revision other than " +
                                                   std::to_string(next));
      }
      RunWriteHook();
      if (auto committed = backend->Commit(event); !committed.ok()) {
        return MakeError(ErrorCode::kInternal,
                         std::string("backend ") + backend->Name() + " commit failed: " + committed.error().message);
      }
      // Visible from here on: all of it under the write lock, so no reader
      // sees a partial write and no watcher misses or reorders it.
      switch (kind) {
        case WriteKind::kCreate:
          objects.emplace(key, event.object);
          creates.fetch_add(1, std::memory_order_relaxed);
          break;
        case WriteKind::kUpdate:
          it->second = event.object;
          updates.fetch_add(1, std::memory_order_relaxed);
          break;
        case WriteKind::kDelete:
          objects.erase(it);
          deletes.fetch_add(1, std::memory_order_relaxed);
          break;
      }
      history.Append(event, &evicted);
      hub->Publish(event, &ready);
      revision.store(next);
      NoteIssued(next);
      wrote = true;
      return event.object;
    }();
    if (wrote) WakeRevisionWaiters();
    ready.Run();
    return result;
  }

  // Waits until the store reached `wanted` (S9), up to future_revision_wait.
  Result<bool> WaitForRevision(Revision wanted) const {
    if (revision.load() >= wanted) return true;
    std::unique_lock<std::mutex> l(wait_mu);
    revision_waiters.fetch_add(1);
    bool reached = wait_cv.wait_for(l, options.future_revision_wait,
                                    [&] { return revision.load() >= wanted || shutdown.load(); });
    revision_waiters.fetch_sub(1);
    if (shutdown.load()) return Unavailable();
    if (!reached) {
      return MakeError(ErrorCode::kTooLargeRevision, "too large resource version: " + std::to_string(wanted) +
                                                         " (current: " + std::to_string(revision.load()) + ")");
    }
    return true;
  }

  void WakeRevisionWaiters() {
    // Waiters register under wait_mu before checking the revision, and the
    // revision was stored before this load (both seq_cst): no lost wakeup.
    if (revision_waiters.load() == 0 && !shutdown.load()) return;
    { std::lock_guard<std::mutex> l(wait_mu); }
    wait_cv.notify_all();
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
  HistoryRing history;
  std::atomic<Revision> revision{0};  // written only under rw (exclusive)
  std::atomic<bool> opened{false};
  std::atomic<bool> shutdown{false};

  const std::shared_ptr<WatchHub> hub;

  mutable std::mutex wait_mu;  // future-revision waits (S9)
  mutable std::condition_variable wait_cv;
  mutable std::atomic<int> revision_waiters{0};

  std::mutex hook_mu;
  std::shared_ptr<const std::function<void()>> write_hook;
  std::atomic<bool> has_hook{false};

  std::atomic<std::uint64_t> creates{0}, updates{0}, deletes{0}, noop_updates{0}, watches_expired{0};
};

Store::Store(StoreOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Store::~Store() = default;

Result<bool> Store::Open() { return impl_->Open(); }

Result<ObjectPtr> Store::Create(const ObjectKey& key, const CreateFn& build) {
  return impl_->Write(WriteKind::kCreate, key, [&](const ObjectPtr&, Revision next) { return build(next); });
}

Result<ObjectPtr> Store::Update(const ObjectKey& key, const UpdateFn& build) {
  return impl_->Write(WriteKind::kUpdate, key, build);
}

Result<ObjectPtr> Store::Delete(const ObjectKey& key, const DeleteFn& build) {
  return impl_->Write(WriteKind::kDelete, key, build);
}

Result<ObjectPtr> Store::Get(const ObjectKey& key, const GetOptions& options) const {
  if (auto ok = impl_->CheckServing(); !ok.ok()) return ok.error();
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
  if (auto reached = impl_->WaitForRevision(options.revision); !reached.ok()) return reached.error();
  WatchFilter filter{options.namespace_name, options.selector};
  ListResult result;
  auto collect = [&](const std::map<ObjectKey, ObjectPtr>& state) {
    auto first = state.begin();
    if (!options.namespace_name.empty()) first = state.lower_bound(ObjectKey{options.namespace_name, ""});
    for (auto it = first; it != state.end(); ++it) {
      if (!options.namespace_name.empty() && it->first.namespace_name != options.namespace_name) break;
      if (it->second && filter.Matches(*it->second)) result.items.push_back(it->second);
    }
  };
  std::shared_lock<WriterPreferringMutex> lock(impl_->rw);
  const Revision current = impl_->revision.load();
  if (options.exact && options.revision != 0 && options.revision != current) {
    if (options.revision < impl_->history.Start()) return TooOld(options.revision, impl_->history.Start());
    auto state = impl_->StateAt(options.revision);
    lock.unlock();
    collect(state);
    result.revision = options.revision;
    return result;
  }
  result.items.reserve(options.namespace_name.empty() && options.selector.Empty() ? impl_->objects.size() : 0);
  collect(impl_->objects);
  result.revision = current;
  return result;
}

Result<std::shared_ptr<Watcher>> Store::Watch(const WatchOptions& options) {
  if (auto ok = impl_->CheckServing(); !ok.ok()) return ok.error();
  if (options.start) {
    if (auto reached = impl_->WaitForRevision(*options.start); !reached.ok()) return reached.error();
  }
  WatchFilter filter{options.namespace_name, options.selector};
  WatcherSettings settings;
  settings.queue_capacity =
      options.queue_capacity != 0 ? options.queue_capacity : impl_->options.watcher_queue_capacity;
  settings.allow_bookmarks = options.allow_bookmarks;
  settings.timeout = options.timeout;

  // Backlog and registration under one read lock: no write lands between
  // them, so nothing is missed or repeated at the boundary (S12, S13).
  std::shared_lock<WriterPreferringMutex> lock(impl_->rw);
  if (impl_->shutdown.load()) return Unavailable();
  const Revision current = impl_->revision.load();
  std::vector<Event> backlog;
  if (options.start) {
    if (*options.start < impl_->history.Start()) {
      impl_->watches_expired.fetch_add(1, std::memory_order_relaxed);  // S14
      return TooOld(*options.start, impl_->history.Start());
    }
    for (Event& e : impl_->history.Since(*options.start)) {
      Event out;
      if (filter.Transform(e, &out)) backlog.push_back(std::move(out));
    }
  } else {
    // Synthetic ADDEDs carry the snapshot's revision, so event revisions
    // never go down and last_revision() after them is a valid resume point.
    for (const auto& [key, object] : impl_->objects) {
      if (!filter.Matches(*object)) continue;
      Event e;
      e.type = EventType::kAdded;
      e.revision = current;
      e.object = object;
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
  return impl_->hub->Register(std::move(filter), std::move(backlog), settings);
}

Revision Store::CurrentRevision() const { return impl_->revision.load(); }

StoreStats Store::Stats() const {
  StoreStats s;
  {
    std::shared_lock<WriterPreferringMutex> lock(impl_->rw);
    s.objects = impl_->objects.size();
    s.current_revision = impl_->revision.load();
    s.history_events = impl_->history.size();
    s.history_bytes = impl_->history.bytes();
    s.oldest_retained_revision = impl_->history.OldestEventRevision();
  }
  s.creates = impl_->creates.load();
  s.updates = impl_->updates.load();
  s.deletes = impl_->deletes.load();
  s.noop_updates = impl_->noop_updates.load();
  s.active_watchers = impl_->hub->active_watchers();
  s.events_delivered = impl_->hub->events_delivered();
  s.watchers_evicted = impl_->hub->watchers_evicted();
  s.watches_expired = impl_->watches_expired.load();
  return s;
}

const StoreOptions& Store::options() const { return impl_->options; }

void Store::Shutdown() { impl_->Shutdown(); }

void Store::SetWriteHookForTesting(std::function<void()> hook) {
  std::lock_guard<std::mutex> l(impl_->hook_mu);
  impl_->write_hook = hook ? std::make_shared<const std::function<void()>>(std::move(hook)) : nullptr;
  impl_->has_hook.store(impl_->write_hook != nullptr, std::memory_order_release);
}

std::size_t Store::WaitingReadersForTesting() const { return impl_->rw.waiting_readers(); }

}  // namespace deviceapi::store
