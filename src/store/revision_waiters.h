// Calls waiting for the store to reach a revision it has not reached yet (S9),
// held as entries in a list instead of as blocked threads (S32).
//
// Each waiter is a callback, called exactly once with:
//   - true, by the thread that commits a revision >= the one wanted
//     (Reached, which the store calls after releasing its write lock);
//   - kTooLargeRevision "too large resource version", from the one timer
//     thread shared by all waiters, once `wait` has passed;
//   - kUnavailable "store is shutting down", from Shutdown.
// Add refuses at once, without calling back, with kResourceExhausted when
// `max_waiters` are already waiting (unless the waiter is exempt), and with
// kUnavailable after Shutdown.
//
// Callbacks never run with a lock of this class (or of the store) held, so
// they may call into the store. They run on a writer's or the timer's
// thread: they must be quick (finish a call, start a watch) and never block.
//
// Thread-safe. No lost wakeup: Add registers under the mutex before it reads
// the revision; the store publishes a revision before it calls Reached.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "store/object.h"
#include "store/result.h"

namespace deviceapi::store {

class RevisionWaiters {
 public:
  using Done = std::function<void(Result<bool>)>;
  using Clock = std::chrono::steady_clock;

  // `current` is the store's revision counter, read to decide whether a
  // waiter is already satisfied and to word the timeout's message.
  RevisionWaiters(const std::atomic<Revision>& current, std::size_t max_waiters,
                  std::chrono::milliseconds wait);
  ~RevisionWaiters();  // Shutdown()
  RevisionWaiters(const RevisionWaiters&) = delete;
  RevisionWaiters& operator=(const RevisionWaiters&) = delete;

  // Calls `done(true)` now (on this thread) when `wanted` is already
  // reached; otherwise keeps `done` until one of the events above. Returns
  // the refusal (done not called) when the list is full or shut down.
  // `limited` false: not refused when full (the server's own waits); it
  // still counts towards the limit for others.
  Result<bool> Add(Revision wanted, Done done, bool limited = true);

  // Fires every waiter for a revision <= `reached`. Cheap when none waits.
  void Reached(Revision reached);

  // Fires every waiter with kUnavailable, refuses later Adds, stops the
  // timer. Idempotent.
  void Shutdown();

  std::size_t size() const { return count_.load(); }

 private:
  struct Entry {
    Revision wanted;
    Done done;
  };
  void TimerLoop();

  const std::atomic<Revision>& current_;
  const std::size_t max_waiters_;
  const std::chrono::milliseconds wait_;

  mutable std::mutex mu_;  // guards the fields below
  // Every waiter waits the same time, so deadlines grow with the sequence
  // number: the timer only ever looks at the first entry of `by_seq_`.
  std::map<std::uint64_t, std::pair<Clock::time_point, Entry>> by_seq_;
  std::multimap<Revision, std::uint64_t> by_revision_;
  std::uint64_t next_seq_ = 0;
  bool shutdown_ = false;
  std::condition_variable timer_cv_;
  std::thread timer_;

  std::atomic<std::size_t> count_{0};
};

}  // namespace deviceapi::store
