// Informer: a local, always-converging copy of the server's GPUs plus change
// notifications, built the way Kubernetes informers are.
//
// It lists, then watches from the list's resource version (with bookmarks),
// so no change falls between the two. After a disconnect, a server restart or
// an eviction as a too-slow watcher (RESOURCE_EXHAUSTED) it re-watches from
// the last revision it saw, which loses nothing and needs no relist. So does
// a watch that receives nothing, not even a bookmark, for watch_idle_timeout.
// Only when
// the server no longer retains that revision (IsExpired) does it relist, and
// then reconciles: objects gone from the new list produce OnDelete, changed
// ones OnUpdate, new ones OnAdd; one deleted and created again under the
// same name meanwhile (another uid) produces OnDelete(old), then
// OnAdd(new), never an update from one to the other. Reconnects back off exponentially with
// jitter.
//
// Handlers run on one dispatch thread owned by the informer, one at a time,
// in the order the changes happened; the cache already reflects an event
// when its handler runs. A handler must not call Stop(): Stop() joins the
// dispatch thread the handler runs on, which throws std::system_error
// (resource_deadlock_would_occur) out of the handler and ends the process
// (std::terminate). Nor may a handler throw; slow handlers only delay later
// handlers, never the watch (changes queue up in memory meanwhile).
//
// Freshness: HasSynced() stays true after the first sync, whatever happens
// later, and the cache keeps the last state it saw while the informer
// cannot reach the server (gone, not ready, backing off, waiting to
// relist). A consumer that reports health from the cache (a device plugin)
// must treat it as stale when Stats() says it does not follow the server:
// when !watching and last_contact is older than a bound it chooses (5 s
// suits a device plugin: longer than the first reconnect backoffs, shorter
// than a kubelet's patience), the cache is stale; last_error says why. A
// watch on a connection that stalls stays open until the client's
// keepalive or watch_idle_timeout ends it; for a tighter check compare
// last_resource_version with the server's current revision (a List that
// matches no object), as examples/health-gate and the Go client's
// freshness package do: the cache holds the state of every revision
// last_resource_version has reached.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "deviceapi/client.h"
#include "deviceapi/lister.h"
#include "deviceapi/retry.h"

namespace deviceapi {

struct EventHandlers {
  std::function<void(const GpuPtr& obj)> on_add;
  std::function<void(const GpuPtr& old_obj, const GpuPtr& new_obj)> on_update;
  // The object's last known state.
  std::function<void(const GpuPtr& obj)> on_delete;
};

struct InformerOptions {
  std::string namespace_name;  // empty: all namespaces
  std::string label_selector;
  // > 0: every period, OnUpdate(obj, obj) for every cached object, so
  // level-triggered consumers can re-check their state. A resync is queued
  // in order with the changes: it comes after the notifications of every
  // version it repeats, never before an object's OnAdd, and it is due on
  // time even while changes keep the queue busy. While one is still queued
  // (slow handlers) the next is skipped.
  std::chrono::milliseconds resync_period{0};
  // Reconnect pacing after errors; reset after a watch delivered events.
  Backoff backoff{.steps = 0, .initial = std::chrono::milliseconds(100),
                  .factor = 2.0, .jitter = 0.5, .max = std::chrono::milliseconds(5000)};
  // Ask the server to end each watch after this long (it is then resumed from
  // the last revision). The server ends it, so this renews healthy streams
  // but cannot end one whose connection stopped delivering: see
  // watch_idle_timeout and ClientOptions::keepalive_time for that.
  std::int64_t watch_timeout_seconds = 300;
  // > 0: a watch that receives nothing for this long, neither an event nor
  // a bookmark, is cancelled and resumed from the last revision (no relist).
  // The informer asks for bookmarks, which the server sends on an idle watch
  // every --bookmark-interval (default 60 s), so keep this above that
  // interval. This catches a stream that stalls while its connection still
  // answers pings; a connection that stops answering them is closed by the
  // client's keepalive (ClientOptions::keepalive_time), and the watch then
  // resumes on a new one. 0: no limit.
  std::chrono::milliseconds watch_idle_timeout{120000};
};

// Counters for tests and metrics, and what a consumer needs to judge
// whether the cache still follows the server (see "Freshness" above).
struct InformerStats {
  std::uint64_t lists = 0;     // successful lists (1 + relists)
  std::uint64_t watches = 0;   // watch streams opened
  std::uint64_t events = 0;    // watch events applied (bookmarks excluded)
  std::uint64_t bookmarks = 0;
  std::uint64_t errors = 0;    // failed lists / watches ended with an error
  std::uint64_t idle_timeouts = 0;  // watches cancelled after watch_idle_timeout
  // The last revision taken in (list, event or bookmark), published only
  // once the cache holds the state as of it: a reader that sees it reach a
  // revision of the server and then reads lister() gets that state or a
  // later one.
  std::string last_resource_version;

  // Freshness. True while a watch stream is open: from its opening until it
  // ends. False before the first watch, while listing, backing off or
  // waiting to relist, and after Stop(). A watch the server refuses counts
  // as open for the moment it takes to refuse it.
  bool watching = false;
  // When the server last answered (steady_clock; the epoch before the first
  // answer): a list, a watch event or bookmark, a watch it ended cleanly.
  // An open watch on an idle server is answered only by its bookmarks
  // (every --bookmark-interval, 60 s by default).
  std::chrono::steady_clock::time_point last_contact{};
  // Why the last failed list or watch failed (OK before any failure; not
  // cleared by a later success): UNAVAILABLE for a server gone or not ready,
  // OUT_OF_RANGE for a revision it no longer holds (a relist follows),
  // DEADLINE_EXCEEDED for a watch silent for watch_idle_timeout,
  // INVALID_ARGUMENT for a configuration that no retry will fix (a bad
  // label selector, unreadable TLS files), which the informer nevertheless
  // retries with backoff.
  Status last_error;
};

class Informer {
 public:
  // `client` must outlive the informer.
  explicit Informer(Client& client, InformerOptions options = {});
  ~Informer();  // Stop()s
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Handlers added before Start() see every object as OnAdd; handlers added
  // later see only changes the informer takes in after this call, not those
  // still queued for the handlers added earlier. The informer keeps
  // `handlers` and calls these very functions, never copies of them, so a
  // stateful (mutable) handler's state carries from one event to the next.
  void AddEventHandlers(EventHandlers handlers);

  // Starts the list/watch and dispatch threads. Idempotent. An informer
  // runs once: Start() after Stop() does nothing (make a new informer).
  void Start();
  // Ends the watch, cancels a list in flight (it does not wait for the
  // list's deadline) and joins the threads. Pending handler calls are
  // dropped, but a handler already running is waited for: Stop() returns
  // only once it has returned.
  void Stop();

  // True once the first list is in the cache and its OnAdd calls ran.
  bool HasSynced() const;
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  const Lister& lister() const;
  InformerStats Stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi
