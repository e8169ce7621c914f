// A watcher's end of the change stream: a bounded queue the store fills and a
// consumer (a gRPC stream reactor, a test) drains. No thread per watcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "store/event.h"

namespace deviceapi::store {

class Watcher {
 public:
  // Why a watch is over. kNone while it is live.
  enum class End {
    kNone,
    kTimeout,    // timeout_seconds elapsed: end cleanly (OK), S18
    kTooSlow,    // queue overflowed: RESOURCE_EXHAUSTED "watcher too slow", S16
    kShutdown,   // store shutting down: UNAVAILABLE, S18/S22
    kCancelled,  // consumer called Cancel()
  };

  virtual ~Watcher() = default;

  // Takes the next event without blocking. Returns false when nothing is
  // queued; if end() != kNone at that point the stream is over. Events come in
  // revision order, each exactly once (S12, S13). On overflow the queue is
  // dropped and end() becomes kTooSlow at once.
  virtual bool Next(Event* out) = 0;

  // Whether Next would return an event now. A consumer that writes events
  // to a socket uses it to hold a write back while another one is already
  // waiting, so that a backlog leaves in fewer, larger writes.
  virtual bool HasNext() const = 0;

  // Blocks until an event is ready, the watch ends, or `timeout` passes.
  // For tests and simple consumers; reactors use Next + SetReadyCallback.
  virtual bool WaitNext(Event* out, std::chrono::milliseconds timeout) = 0;

  // `ready` is invoked each time the watcher goes from "Next would return
  // false" to "Next has something to return or the watch ended". It is also
  // invoked once immediately if that is already the case. It runs on a
  // writer's (or the store's timer) thread with no store lock held: it must be
  // quick and must not block. Replaces any earlier callback.
  virtual void SetReadyCallback(std::function<void()> ready) = 0;

  virtual End end() const = 0;

  // Ends the watch from the consumer side and frees its slot; idempotent.
  virtual void Cancel() = 0;

  // The revision of the last event handed out by Next (0 before the first).
  virtual Revision last_revision() const = 0;
};

}  // namespace deviceapi::store
