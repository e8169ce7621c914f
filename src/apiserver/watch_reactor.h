// WatchReactor: serves one watch stream from one store::Watcher, with no
// thread of its own (S16: a slow client only fills its own bounded queue).
//
// Driven by three sources, serialized by one mutex:
//   - the watcher's ready callback (a writer's or the store timer's thread),
//   - OnWriteDone (gRPC), after each write: at most one write is outstanding,
//   - OnCancel (gRPC), when the client goes away or the deadline passes,
//   - for a pending stream, Pending::Begin / Refuse once the wait is over.
// Each of them "pumps": take the next event with Watcher::Next (never
// blocks), start its write, or finish the stream when the watch has ended.
//
// A stream ended as too slow logs one warn line, "watch ended: watcher too
// slow", with its WatchSubject and the last resource version it was sent:
// at most kTooSlowLinesPerSecond such lines a second in all, the next line
// carrying "suppressed": <count>. gRPC sees every connection through the
// server's own listener (a socketpair), so no client address is known here.
//
// Lifetime: gRPC deletes nothing; the reactor deletes itself in OnDone. The
// ready callback holds only a weak_ptr to a small WatchReactorLink, which OnDone clears
// under its mutex before deleting the reactor, so a late callback sees
// no reactor and returns. Watcher calls that may invoke the callback
// (SetReadyCallback, Cancel) are never made with the mutex held.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "store/watcher.h"

namespace deviceapi::apiserver {

// Counters shared by all watch streams of a service.
struct WatchCounters {
  std::atomic<std::uint64_t> events_sent{0};
  std::atomic<std::size_t> active_streams{0};
  std::atomic<std::uint64_t> streams_too_slow{0};
};

// What the too-slow line says about a watch: its method and request.
struct WatchSubject {
  const char* method = "";  // "WatchGpus", "WatchLeases"
  std::string namespace_;
  std::string label_selector;
};

inline constexpr int kTooSlowLinesPerSecond = 5;

// Logs the line of a watch ended as too slow (rate-limited as above);
// `resource_version` is the last one it was sent.
void LogWatchTooSlow(const WatchSubject& subject, store::Revision resource_version);

class WatchReactor;

// What the ready callback (and a Pending) hold instead of the reactor.
struct WatchReactorLink {
  std::mutex mu;
  WatchReactor* reactor = nullptr;  // null once OnDone ran
};

class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Encodes an event into `out`; false means the event cannot be encoded (a
  // bug), which ends the stream with INTERNAL.
  using Encoder = std::function<bool(const store::Event& event, grpc::ByteBuffer* out)>;

  // Ends the stream at once with `status` (a refused watch).
  static WatchReactor* Refuse(const grpc::Status& status, WatchCounters* counters);

  // A stream whose watcher comes later (a watch from a revision the store
  // has not reached, S9): it holds no thread meanwhile (S32). Exactly one of
  // Begin or Refuse is called, from any thread, with no lock held; when the
  // client has gone by then, Begin cancels the watcher and Refuse does
  // nothing. Copyable; it does not keep the reactor alive.
  class Pending {
   public:
    void Begin(std::shared_ptr<store::Watcher> watcher) const;
    void Refuse(const grpc::Status& status) const;

   private:
    friend class WatchReactor;
    std::weak_ptr<WatchReactorLink> link_;
  };
  static std::pair<WatchReactor*, Pending> StartPending(WatchSubject subject, Encoder encoder,
                                                        WatchCounters* counters);

  // Streams `watcher`'s events until it ends or the client goes away.
  static WatchReactor* Start(WatchSubject subject, std::shared_ptr<store::Watcher> watcher, Encoder encoder,
                             WatchCounters* counters);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:

  WatchReactor(WatchSubject subject, std::shared_ptr<store::Watcher> watcher, Encoder encoder,
               WatchCounters* counters);
  ~WatchReactor() override = default;
  // Installs the ready callback of `watcher` and pumps once.
  static void Attach(const std::shared_ptr<WatchReactorLink>& link, const std::shared_ptr<store::Watcher>& watcher);
  // Advances the stream; requires link_->mu held.
  void PumpLocked();
  void FinishLocked(const grpc::Status& status);
  // Finishes with the status that `end` maps to (nothing for kNone).
  void FinishEnded(store::Watcher::End end);

  const WatchSubject subject_;
  std::shared_ptr<store::Watcher> watcher_;
  Encoder encoder_;
  WatchCounters* counters_;
  std::shared_ptr<WatchReactorLink> link_;
  grpc::ByteBuffer pending_;  // the buffer of the outstanding write
  bool writing_ = false;
  // The stream's first write carries its initial metadata, and chttp2 sends
  // that only when a write is initiated: a hinted first write would complete
  // never, so the hint waits until one write has completed.
  bool wrote_once_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
};

}  // namespace deviceapi::apiserver
