// The watch hub: the registry of live watchers, the fan-out of each committed
// event into their bounded queues, and the one timer thread that sends idle
// bookmarks and ends timed-out watches.
//
// Locking: the store calls Publish while holding its write lock and Register
// while holding its read lock, so registration (snapshot + joining the
// registry) is atomic with respect to writes (S13, S12); the backlog taken
// from that snapshot is filtered and handed over after the lock is released. Inside, the hub
// mutex guards the registry and each watcher has its own mutex guarding its
// queue; order is store lock -> hub mutex -> watcher mutex. Publish only
// appends to queues (O(1) per watcher) and never waits for a consumer (S16);
// ready callbacks are collected into a DeferredCallbacks and run by the caller after
// every lock is released.
//
// Lifetime: watchers hold a shared_ptr to the hub, so a consumer may keep its
// Watcher after the store is gone; the registry holds watchers only while they
// are live, so the cycle is broken whenever a watch ends.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "store/event.h"
#include "store/deferred_callbacks.h"
#include "store/result.h"
#include "store/selection_predicate.h"
#include "store/watcher.h"

namespace deviceapi::store {

class HubWatcher;

struct WatcherSettings {
  std::size_t queue_capacity = 1024;
  bool allow_bookmarks = false;
  std::chrono::milliseconds timeout{0};  // 0: none
};

class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  using Clock = std::chrono::steady_clock;

  WatchHub(std::size_t max_watchers, std::chrono::milliseconds bookmark_interval);
  ~WatchHub();

  // The revision bookmarks carry until the next Publish.
  void SetRevision(Revision revision);

  // Starts the timer thread. StopTimer joins it; both are idempotent.
  void StartTimer();
  void StopTimer();

  // Adds a watcher that receives live events from now on. Must be called
  // while no Publish can run (the store holds its read lock). It delivers
  // nothing until StartBacklog hands it its first events; live events
  // published before that queue behind them.
  Result<std::shared_ptr<Watcher>> Register(SelectionPredicate filter, const WatcherSettings& settings);

  // Gives a watcher from Register its first events (synthetic ADDEDs or a
  // history replay, already filtered, not counted against its queue
  // capacity), after the store lock is released (S32). Once per watcher.
  void StartBacklog(Watcher& watcher, std::vector<Event> backlog, DeferredCallbacks* ready);

  // Hands `event` to every live watcher whose filter it passes. Called under
  // the store's write lock; never blocks on a consumer.
  void Publish(const Event& event, DeferredCallbacks* ready);

  // Ends every watch with kShutdown and refuses later registrations.
  void Shutdown(DeferredCallbacks* ready);

  // Takes a watcher out of the registry (its slot becomes free).
  void Remove(const HubWatcher* watcher);

  std::size_t active_watchers() const;
  std::uint64_t events_delivered() const { return delivered_.load(std::memory_order_relaxed); }
  std::uint64_t watchers_evicted() const { return evicted_.load(std::memory_order_relaxed); }
  void CountDelivered() { delivered_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void TimerLoop();
  // One timer pass: bookmarks and timeouts due at `now`; returns when the
  // next one is due.
  Clock::time_point Tick(Clock::time_point now, DeferredCallbacks* ready);
  void KickTimer();

  const std::size_t max_watchers_;
  const std::chrono::milliseconds bookmark_interval_;

  // Watches that timed out with events still queued, pruned when they have
  // been taken; called with mu_ held.
  std::size_t CountTimedOutLocked() const;

  mutable std::mutex mu_;  // guards the fields below
  std::vector<std::shared_ptr<HubWatcher>> watchers_;
  mutable std::vector<std::weak_ptr<HubWatcher>> timed_out_;  // see CountTimedOutLocked
  Revision revision_ = 0;
  bool shutdown_ = false;

  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> evicted_{0};

  std::mutex timer_mu_;  // guards timer_stop_, timer_kick_
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;
  bool timer_kick_ = false;
  std::thread timer_;
};

}  // namespace deviceapi::store
