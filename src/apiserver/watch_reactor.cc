#include "apiserver/watch_reactor.h"

#include <cstdint>
#include <utility>

#include "apiserver/status_mapping.h"
#include "base/line_budget.h"
#include "base/logging.h"

namespace deviceapi::apiserver {

void LogWatchTooSlow(const WatchSubject& subject, store::Revision resource_version) {
  // An event storm can end every watch at once, over and over as clients
  // re-watch: the line count is bounded, never the count of evictions.
  static base::LineBudget budget(kTooSlowLinesPerSecond);
  std::uint64_t dropped = 0;
  if (!budget.Admit(&dropped)) return;
  base::LogFields fields{{"method", subject.method}};
  if (!subject.namespace_.empty()) fields.emplace_back("namespace", subject.namespace_);
  if (!subject.label_selector.empty()) fields.emplace_back("label_selector", subject.label_selector);
  fields.emplace_back("resource_version", resource_version);
  if (dropped > 0) fields.emplace_back("suppressed", dropped);
  base::LogWarn("watch ended: watcher too slow", fields);
}

WatchReactor::WatchReactor(WatchSubject subject, std::shared_ptr<store::Watcher> watcher, Encoder encoder,
                           WatchCounters* counters)
    : subject_(std::move(subject)),
      watcher_(std::move(watcher)),
      encoder_(std::move(encoder)),
      counters_(counters),
      link_(std::make_shared<WatchReactorLink>()) {
  link_->reactor = this;
  counters_->active_streams.fetch_add(1);
}

WatchReactor* WatchReactor::Refuse(const grpc::Status& status, WatchCounters* counters) {
  auto* reactor = new WatchReactor({}, nullptr, nullptr, counters);
  std::lock_guard<std::mutex> lock(reactor->link_->mu);
  reactor->FinishLocked(status);
  return reactor;
}

WatchReactor* WatchReactor::Start(WatchSubject subject, std::shared_ptr<store::Watcher> watcher, Encoder encoder,
                                  WatchCounters* counters) {
  auto* reactor = new WatchReactor(std::move(subject), watcher, std::move(encoder), counters);
  // gRPC keeps operations started before the handler returns (StartWrite,
  // Finish) until the reactor is bound, so the callback may pump at once.
  Attach(reactor->link_, watcher);
  return reactor;
}

std::pair<WatchReactor*, WatchReactor::Pending> WatchReactor::StartPending(WatchSubject subject, Encoder encoder,
                                                                          WatchCounters* counters) {
  auto* reactor = new WatchReactor(std::move(subject), nullptr, std::move(encoder), counters);
  Pending pending;
  pending.link_ = reactor->link_;
  return {reactor, pending};
}

void WatchReactor::Attach(const std::shared_ptr<WatchReactorLink>& link,
                          const std::shared_ptr<store::Watcher>& watcher) {
  std::weak_ptr<WatchReactorLink> weak = link;
  watcher->SetReadyCallback([weak] {
    auto l = weak.lock();
    if (!l) return;
    std::lock_guard<std::mutex> lock(l->mu);
    if (l->reactor != nullptr) l->reactor->PumpLocked();
  });
  // In case the watcher was ready before the callback was installed and
  // the store does not call it immediately.
  std::lock_guard<std::mutex> lock(link->mu);
  if (link->reactor != nullptr) link->reactor->PumpLocked();
}

void WatchReactor::Pending::Begin(std::shared_ptr<store::Watcher> watcher) const {
  auto link = link_.lock();
  bool attached = false;
  if (link) {
    std::lock_guard<std::mutex> lock(link->mu);
    // Still open: OnDone has not run, and a stream the client cancelled
    // meanwhile was finished by OnCancel.
    if (link->reactor != nullptr && !link->reactor->finished_) {
      link->reactor->watcher_ = watcher;
      attached = true;
    }
  }
  if (attached) {
    Attach(link, watcher);
  } else {
    watcher->Cancel();  // frees the store's slot; nobody reads it
  }
}

void WatchReactor::Pending::Refuse(const grpc::Status& status) const {
  auto link = link_.lock();
  if (!link) return;
  std::lock_guard<std::mutex> lock(link->mu);
  if (link->reactor != nullptr) link->reactor->FinishLocked(status);
}

void WatchReactor::PumpLocked() {
  if (finished_) return;
  if (!watcher_) {
    // Pending (no watcher yet): only a cancellation has something to do.
    if (cancelled_) FinishLocked(grpc::Status::CANCELLED);
    return;
  }
  if (writing_) {
    // A client that stopped reading leaves its write pending forever; when
    // the store has already dropped it (S16) or is shutting down (S18), send
    // the status now. gRPC allows Finish with a write outstanding: the
    // trailers follow the pending message, and OnDone waits for both.
    const auto end = watcher_->end();
    if (end == store::Watcher::End::kTooSlow || end == store::Watcher::End::kShutdown) {
      FinishEnded(end);
    }
    return;
  }
  if (cancelled_) {
    FinishLocked(grpc::Status::CANCELLED);
    return;
  }
  store::Event event;
  if (watcher_->Next(&event)) {
    try {
      if (!encoder_(event, &pending_)) {
        FinishLocked(InternalError("WatchGpus", "event object of an unexpected kind"));
        return;
      }
    } catch (const std::exception& e) {
      FinishLocked(InternalError("WatchGpus", e.what()));
      return;
    }
    writing_ = true;
    counters_->events_sent.fetch_add(1, std::memory_order_relaxed);
    // With another event already queued, gRPC may keep this one in the
    // stream's buffer (it completes the write at once) until a write
    // without the hint or Finish: a backlog leaves in a few socket writes
    // instead of one per event, which is what a burst to many watchers
    // costs most (docs/benchmarks.md). The last queued event goes without
    // the hint, and every way a watch ends calls Finish, so nothing stays
    // buffered. Never on the first write (see wrote_once_).
    grpc::WriteOptions options;
    if (wrote_once_ && watcher_->HasNext()) options.set_buffer_hint();
    StartWrite(&pending_, options);
    return;
  }
  FinishEnded(watcher_->end());
}

void WatchReactor::FinishEnded(store::Watcher::End end) {
  switch (end) {
    case store::Watcher::End::kNone:
      return;  // the ready callback will pump again
    case store::Watcher::End::kTimeout:
      FinishLocked(grpc::Status::OK);  // S18
      return;
    case store::Watcher::End::kTooSlow:
      counters_->streams_too_slow.fetch_add(1, std::memory_order_relaxed);
      LogWatchTooSlow(subject_, watcher_->last_revision());
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, kWatcherTooSlowMessage));
      return;
    case store::Watcher::End::kShutdown:
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, kShuttingDownMessage));
      return;
    case store::Watcher::End::kCancelled:
      FinishLocked(grpc::Status::CANCELLED);
      return;
  }
}

void WatchReactor::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

void WatchReactor::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(link_->mu);
  writing_ = false;
  wrote_once_ = true;
  pending_.Clear();
  if (!ok) {
    // The stream is broken (client gone); OnCancel follows or already ran.
    cancelled_ = true;
  }
  PumpLocked();
}

void WatchReactor::OnCancel() {
  // gRPC holds the call open while OnCancel runs (OnDone comes after it), but
  // keep our own reference to the watcher anyway: once the lock is released
  // below, the Finish issued under it may lead to OnDone on another thread.
  std::shared_ptr<store::Watcher> watcher;
  {
    std::lock_guard<std::mutex> lock(link_->mu);
    watcher = watcher_;  // under the lock: a pending stream's Begin sets it
    cancelled_ = true;
    // A write in flight completes (with ok=false) before we finish.
    PumpLocked();
  }
  // Frees the store's watcher slot and queue now rather than at OnDone.
  if (watcher) watcher->Cancel();
}

void WatchReactor::OnDone() {
  std::shared_ptr<store::Watcher> watcher;
  {
    std::lock_guard<std::mutex> lock(link_->mu);
    link_->reactor = nullptr;
    watcher = watcher_;
  }
  // The ready callback stays installed but finds no reactor (see WatchReactorLink).
  if (watcher) watcher->Cancel();
  counters_->active_streams.fetch_sub(1);
  delete this;
}

}  // namespace deviceapi::apiserver
