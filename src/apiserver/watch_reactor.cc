#include "apiserver/watch_reactor.h"

#include <spdlog/spdlog.h>

#include "apiserver/status_mapping.h"

namespace deviceapi::apiserver {

WatchReactor::WatchReactor(std::shared_ptr<store::Watcher> watcher, Encoder encoder,
                           WatchCounters* counters)
    : watcher_(std::move(watcher)),
      encoder_(std::move(encoder)),
      counters_(counters),
      link_(std::make_shared<Link>()) {
  link_->reactor = this;
  counters_->active_streams.fetch_add(1);
}

WatchReactor* WatchReactor::Refuse(const grpc::Status& status, WatchCounters* counters) {
  auto* reactor = new WatchReactor(nullptr, nullptr, counters);
  std::lock_guard<std::mutex> lock(reactor->link_->mu);
  reactor->FinishLocked(status);
  return reactor;
}

WatchReactor* WatchReactor::Start(std::shared_ptr<store::Watcher> watcher, Encoder encoder,
                                  WatchCounters* counters) {
  auto* reactor = new WatchReactor(std::move(watcher), std::move(encoder), counters);
  // gRPC keeps operations started before the handler returns (StartWrite,
  // Finish) until the reactor is bound, so the callback may pump at once.
  std::weak_ptr<Link> weak = reactor->link_;
  reactor->watcher_->SetReadyCallback([weak] {
    auto link = weak.lock();
    if (!link) return;
    std::lock_guard<std::mutex> lock(link->mu);
    if (link->reactor != nullptr) link->reactor->PumpLocked();
  });
  // In case the watcher was ready before the callback was installed and
  // the store does not call it immediately.
  {
    std::lock_guard<std::mutex> lock(reactor->link_->mu);
    reactor->PumpLocked();
  }
  return reactor;
}

void WatchReactor::PumpLocked() {
  if (finished_) return;
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
    StartWrite(&pending_);
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
  std::shared_ptr<store::Watcher> watcher = watcher_;
  {
    std::lock_guard<std::mutex> lock(link_->mu);
    cancelled_ = true;
    // A write in flight completes (with ok=false) before we finish.
    PumpLocked();
  }
  // Frees the store's watcher slot and queue now rather than at OnDone.
  if (watcher) watcher->Cancel();
}

void WatchReactor::OnDone() {
  {
    std::lock_guard<std::mutex> lock(link_->mu);
    link_->reactor = nullptr;
  }
  // The ready callback stays installed but finds no reactor (see Link).
  if (watcher_) watcher_->Cancel();
  counters_->active_streams.fetch_sub(1);
  delete this;
}

}  // namespace deviceapi::apiserver
