// Informer = reflector thread (list, watch, re-watch, relist) feeding the
// cache and a FIFO of notifications, plus a dispatch thread that runs the
// handlers from that FIFO in order, plus (with watch_idle_timeout) a
// watchdog thread that cancels a watch that has been silent too long.
#include "deviceapi/informer.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "client/lister_cache.h"

namespace deviceapi {
namespace {

enum class Kind { kAdd, kUpdate, kDelete, kSynced };

// Each handler set lives once and is called in place: a handler's state
// persists from one event to the next, and nothing is copied per event.
using HandlerList = std::vector<std::shared_ptr<const EventHandlers>>;

struct Notification {
  Kind kind;
  GpuPtr old_obj;
  GpuPtr new_obj;
  // The handlers registered when the change was queued: one added later
  // sees only later changes.
  std::shared_ptr<const HandlerList> handlers{};  // set by QueueLocked
  bool resync = false;  // OnUpdate(obj, obj) of a resync
};

}  // namespace

class Informer::Impl {
 public:
  Impl(Client& client, InformerOptions options)
      : client_(client), options_(std::move(options)) {}

  ~Impl() { Stop(); }

  void AddEventHandlers(EventHandlers h) {
    auto added = std::make_shared<const EventHandlers>(std::move(h));
    std::lock_guard lock(queue_mu_);
    auto list = std::make_shared<HandlerList>(*handlers_);
    list->push_back(std::move(added));
    handlers_ = std::move(list);
  }

  void Start() {
    std::lock_guard lock(lifecycle_mu_);
    if (started_ || stopped_) return;
    started_ = true;
    dispatcher_ = std::thread([this] { DispatchLoop(); });
    reflector_ = std::thread([this] { ReflectLoop(); });
    if (options_.watch_idle_timeout.count() > 0)
      watchdog_ = std::thread([this] { WatchdogLoop(); });
  }

  void Stop() {
    std::lock_guard lock(lifecycle_mu_);
    if (stopped_) return;
    if (!started_) {  // never ran: only a later Start() must stay a no-op
      stopped_ = true;
      return;
    }
    {
      std::lock_guard l(mu_);
      stop_ = true;
      if (watch_ != nullptr) watch_->Cancel();
    }
    // A List in flight, or a watch still being opened (watch_ is set only
    // once it is open), ends now, not at its deadline or connect timeout.
    call_canceller_->Cancel();
    cv_.notify_all();
    watchdog_cv_.notify_all();
    sync_cv_.notify_all();  // WaitForSync returns false once stopped
    { std::lock_guard l(queue_mu_); }  // no lost wakeup of the dispatcher
    queue_cv_.notify_all();
    reflector_.join();
    dispatcher_.join();
    if (watchdog_.joinable()) watchdog_.join();
    stopped_ = true;
  }

  bool HasSynced() const { return synced_.load(); }

  bool WaitForSync(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return sync_cv_.wait_for(lock, timeout, [&] { return synced_.load() || stop_; }) &&
           synced_.load();
  }

  const Lister& lister() const { return cache_; }

  InformerStats Stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  // ---- reflector -------------------------------------------------------

  void ReflectLoop() {
    bool need_list = true;
    std::string last_rv;
    int attempt = 0;  // consecutive failures, for backoff
    while (!Stopping()) {
      if (need_list) {
        if (!ListAndReconcile(&last_rv)) {
          if (!WaitBackoff(attempt++)) return;
          continue;
        }
        need_list = false;
        attempt = 0;
      }
      WatchOptions wo;
      wo.namespace_name = options_.namespace_name;
      wo.label_selector = options_.label_selector;
      wo.resource_version = last_rv;
      wo.allow_watch_bookmarks = true;
      wo.timeout_seconds = options_.watch_timeout_seconds;
      wo.canceller = call_canceller_;
      std::unique_ptr<WatchStream> stream = client_.Watch(wo);
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
        watch_ = stream.get();
        watch_idle_ = false;
        last_message_ = std::chrono::steady_clock::now();
        ++stats_.watches;
        stats_.watching = true;
      }
      watchdog_cv_.notify_all();
      bool progressed = false;
      bool relist = false;
      WatchEvent ev;
      while (stream->Next(&ev)) {
        if (ev.type == EventType::kError) {
          relist = true;  // the server gave up on this watch's position
          break;
        }
        progressed = true;
        Apply(ev, &last_rv);
      }
      bool idle = false;  // the watchdog cancelled it: nothing arrived in time
      {
        std::lock_guard lock(mu_);
        watch_ = nullptr;
        idle = watch_idle_;
        stats_.watching = false;
      }
      if (relist) stream->Cancel();
      Status st = stream->Finish();
      stream.reset();
      if (Stopping()) return;
      if (relist || st.IsExpired()) {
        // Our revision is gone from the server's history: only a fresh list
        // can tell what happened in between.
        RecordError(relist ? Status(grpc::StatusCode::OUT_OF_RANGE,
                                    "watch ended with an ERROR event: relisting")
                           : st);
        need_list = true;
        // A server that expires every fresh position must not be hammered.
        if (!progressed && !WaitBackoff(attempt++)) return;
        continue;
      }
      if (st.ok() && !idle) {  // clean end (timeout_seconds): resume at once
        std::lock_guard lock(mu_);
        stats_.last_contact = std::chrono::steady_clock::now();
        attempt = 0;
        continue;
      }
      // Disconnect, restart, eviction as too slow (RESOURCE_EXHAUSTED), a
      // stream silent for watch_idle_timeout: the server still has our
      // revision, so resume from it after a pause.
      RecordError(idle ? Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                "watch received nothing for watch_idle_timeout")
                       : st);
      if (progressed) attempt = 0;
      if (!WaitBackoff(attempt++)) return;
    }
  }

  bool ListAndReconcile(std::string* last_rv) {
    ListOptions lo;
    lo.namespace_name = options_.namespace_name;
    lo.label_selector = options_.label_selector;
    lo.call.canceller = call_canceller_;
    StatusOr<GpuList> list = client_.List(lo);
    if (!list.ok()) {
      if (!Stopping()) RecordError(list.status());
      return false;
    }
    *last_rv = list->metadata().resource_version();
    std::set<ListerCache::Key> seen;
    {
      std::lock_guard lock(queue_mu_);  // cache and queue change together
      for (auto& item : *list->mutable_items()) {
        auto gpu = std::make_shared<const Gpu>(std::move(item));
        seen.insert(ListerCache::KeyOf(*gpu));
        QueueChangeLocked(cache_.Upsert(gpu), gpu);
      }
      for (const GpuPtr& cached : cache_.Snapshot()) {
        auto key = ListerCache::KeyOf(*cached);
        if (seen.count(key) == 0) {
          cache_.Remove(key);
          QueueLocked({Kind::kDelete, cached, nullptr});
        }
      }
      if (!synced_once_) {
        QueueLocked({Kind::kSynced, nullptr, nullptr});
        synced_once_ = true;
      }
    }
    queue_cv_.notify_one();
    {
      // Published only now that the cache holds the list's state (as Apply).
      std::lock_guard lock(mu_);
      ++stats_.lists;
      stats_.last_resource_version = *last_rv;
      stats_.last_contact = std::chrono::steady_clock::now();
    }
    return true;
  }

  void Apply(WatchEvent& ev, std::string* last_rv) {
    *last_rv = ev.resource_version();
    if (ev.type != EventType::kBookmark) {
      bool queued = false;
      {
        std::lock_guard lock(queue_mu_);  // cache and queue change together
        if (ev.type == EventType::kDeleted) {
          GpuPtr old = cache_.Remove(ListerCache::KeyOf(ev.object));
          // The DELETED event carries the last state (with the deletion's
          // revision); hand that to the handler.
          if (old != nullptr) {
            QueueLocked({Kind::kDelete, nullptr, std::make_shared<const Gpu>(std::move(ev.object))});
            queued = true;
          }
        } else {
          auto gpu = std::make_shared<const Gpu>(std::move(ev.object));
          queued = QueueChangeLocked(cache_.Upsert(gpu), gpu);
        }
      }
      if (queued) queue_cv_.notify_one();
    }
    // The revision is published only once the cache holds its state: a
    // reader that sees last_resource_version reach the server's revision
    // and then reads the cache never gets an older state.
    std::lock_guard lock(mu_);
    last_message_ = std::chrono::steady_clock::now();
    stats_.last_contact = last_message_;
    ++(ev.type == EventType::kBookmark ? stats_.bookmarks : stats_.events);
    stats_.last_resource_version = *last_rv;
  }

  // Cancels the open watch once nothing (event or bookmark) has arrived on
  // it for watch_idle_timeout. Next() may be blocked on a connection that
  // stopped delivering without closing; the reflector then resumes from its
  // last revision.
  void WatchdogLoop() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (watch_ == nullptr || watch_idle_) {
        watchdog_cv_.wait(lock);
        continue;
      }
      const auto deadline = last_message_ + options_.watch_idle_timeout;
      if (std::chrono::steady_clock::now() < deadline) {
        watchdog_cv_.wait_until(lock, deadline);
        continue;
      }
      watch_idle_ = true;
      ++stats_.idle_timeouts;
      watch_->Cancel();
    }
  }

  bool Stopping() const {
    std::lock_guard lock(mu_);
    return stop_;
  }

  void RecordError(Status status) {
    std::lock_guard lock(mu_);
    ++stats_.errors;
    stats_.last_error = std::move(status);
  }

  // Sleeps the backoff delay of `attempt`; false when stopped meanwhile.
  bool WaitBackoff(int attempt) {
    auto delay = options_.backoff.Delay(attempt);
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, delay, [&] { return stop_; });
  }

  // ---- dispatch --------------------------------------------------------

  // The reflector changes the cache and queues the matching notifications
  // under queue_mu_, and a resync snapshots the cache under it: so a
  // resync's OnUpdate(obj, obj) follows every notification of obj it
  // reflects, and its version is the last one the handlers were given.

  void QueueLocked(Notification n) {
    n.handlers = handlers_;
    queue_.push_back(std::move(n));
  }

  // Queues what `gpu` replacing `old` (null: nothing) in the cache means to
  // the handlers; false when nothing changed. An object with another uid
  // under the same name is another object (S3): the old one was deleted, as
  // a relist finds when both fell into a gap, so OnDelete(old), OnAdd(gpu).
  bool QueueChangeLocked(const GpuPtr& old, const GpuPtr& gpu) {
    if (old == nullptr) {
      QueueLocked({Kind::kAdd, nullptr, gpu});
    } else if (old->metadata().uid() != gpu->metadata().uid()) {
      QueueLocked({Kind::kDelete, old, nullptr});
      QueueLocked({Kind::kAdd, nullptr, gpu});
    } else if (old->metadata().resource_version() != gpu->metadata().resource_version()) {
      QueueLocked({Kind::kUpdate, old, gpu});
    } else {
      return false;
    }
    return true;
  }

  // Queues OnUpdate(obj, obj) for every cached object behind what is
  // queued already; not before the initial list is delivered, and not while
  // the previous resync is still queued (slow handlers get one at a time).
  void QueueResyncLocked() {
    if (!synced_.load() || resyncs_queued_ > 0) return;
    for (const GpuPtr& g : cache_.Snapshot()) {
      QueueLocked({Kind::kUpdate, g, g, nullptr, /*resync=*/true});
      ++resyncs_queued_;
    }
  }

  void DispatchLoop() {
    using Clock = std::chrono::steady_clock;
    const bool resync = options_.resync_period.count() > 0;
    auto next_resync = Clock::now() + options_.resync_period;
    while (true) {
      Notification n;
      {
        std::unique_lock lock(queue_mu_);
        while (true) {
          if (Stopping()) return;
          // A deadline, checked between notifications too: a queue that
          // never drains does not hold resyncs back.
          if (resync && Clock::now() >= next_resync) {
            QueueResyncLocked();
            next_resync = Clock::now() + options_.resync_period;
          }
          if (!queue_.empty()) break;
          if (resync) {
            queue_cv_.wait_until(lock, next_resync);
          } else {
            queue_cv_.wait(lock);
          }
        }
        n = std::move(queue_.front());
        queue_.pop_front();
        if (n.resync) --resyncs_queued_;
      }
      if (n.kind == Kind::kSynced) {
        {
          std::lock_guard lock(mu_);
          synced_ = true;
        }
        sync_cv_.notify_all();
        continue;
      }
      Deliver(n);
    }
  }

  void Deliver(const Notification& n) {
    for (const auto& h : *n.handlers) {
      switch (n.kind) {
        case Kind::kAdd: if (h->on_add) h->on_add(n.new_obj); break;
        case Kind::kUpdate: if (h->on_update) h->on_update(n.old_obj, n.new_obj); break;
        case Kind::kDelete:
          if (h->on_delete) h->on_delete(n.new_obj ? n.new_obj : n.old_obj);
          break;
        case Kind::kSynced: break;
      }
    }
  }

  Client& client_;
  const InformerOptions options_;
  ListerCache cache_;
  bool synced_once_ = false;  // reflector thread only
  // Stop() cancels the reflector's List in flight, or a watch being opened, with it.
  const std::shared_ptr<CallCanceller> call_canceller_ = std::make_shared<CallCanceller>();

  std::mutex lifecycle_mu_;
  bool started_ = false;
  bool stopped_ = false;
  std::thread reflector_;
  std::thread dispatcher_;
  std::thread watchdog_;

  mutable std::mutex mu_;  // stop_, watch_*, last_message_, stats_, synced_ transitions
  std::condition_variable cv_;
  std::condition_variable watchdog_cv_;
  mutable std::condition_variable sync_cv_;
  bool stop_ = false;
  WatchStream* watch_ = nullptr;
  bool watch_idle_ = false;  // the watchdog cancelled watch_
  std::chrono::steady_clock::time_point last_message_;  // on watch_
  InformerStats stats_;
  std::atomic<bool> synced_{false};

  std::mutex queue_mu_;  // queue_, resyncs_queued_, handlers_; cache_ writes
  std::condition_variable queue_cv_;
  std::deque<Notification> queue_;
  std::size_t resyncs_queued_ = 0;
  std::shared_ptr<const HandlerList> handlers_ = std::make_shared<const HandlerList>();
};

Informer::Informer(Client& client, InformerOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(options))) {}
Informer::~Informer() = default;
void Informer::AddEventHandlers(EventHandlers handlers) {
  impl_->AddEventHandlers(std::move(handlers));
}
void Informer::Start() { impl_->Start(); }
void Informer::Stop() { impl_->Stop(); }
bool Informer::HasSynced() const { return impl_->HasSynced(); }
bool Informer::WaitForSync(std::chrono::milliseconds timeout) const {
  return impl_->WaitForSync(timeout);
}
const Lister& Informer::lister() const { return impl_->lister(); }
InformerStats Informer::Stats() const { return impl_->Stats(); }

}  // namespace deviceapi
