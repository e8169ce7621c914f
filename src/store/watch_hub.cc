#include "store/watch_hub.h"

#include <algorithm>
#include <deque>
#include <string>

namespace deviceapi::store {

// One watcher: an initial backlog (drained first, unbounded because it is a
// one-off copy of shared pointers) and a bounded queue of live events.
class HubWatcher final : public Watcher {
 public:
  using Clock = WatchHub::Clock;

  HubWatcher(std::shared_ptr<WatchHub> hub, SelectionPredicate filter, const WatcherSettings& settings,
             Clock::time_point now)
      : hub_(std::move(hub)),
        filter_(std::move(filter)),
        capacity_(settings.queue_capacity),
        allow_bookmarks_(settings.allow_bookmarks),
        last_activity_(now) {
    if (settings.timeout.count() > 0) deadline_ = now + settings.timeout;
  }

  const SelectionPredicate& filter() const { return filter_; }
  bool allow_bookmarks() const { return allow_bookmarks_; }
  const std::optional<Clock::time_point>& deadline() const { return deadline_; }

  // Appends a live event. Returns false if this overflowed the queue: the
  // watcher is then over (kTooSlow) and must leave the registry.
  bool Push(Event event, Clock::time_point now, DeferredCallbacks* ready) {
    std::lock_guard<std::mutex> l(mu_);
    if (end_ != End::kNone) return true;
    if (queue_.size() >= capacity_) {
      // S16: drop everything at once so the consumer learns immediately and
      // re-watches from last_revision(); memory is released right away.
      std::deque<Event>().swap(queue_);
      std::vector<Event>().swap(backlog_);
      backlog_pos_ = 0;
      end_ = End::kTooSlow;
      SignalLocked(ready);
      return false;
    }
    bool was_empty = !AvailableLocked();
    queue_.push_back(std::move(event));
    last_activity_ = now;
    if (was_empty) SignalLocked(ready);
    return true;
  }

  // The first events, before anything queued so far. Dropped if the watch
  // already ended (it overflowed, was cancelled or the store shut down);
  // kept after a timeout, which keeps the live events queued behind them:
  // those alone would skip the backlog (S12).
  void StartBacklog(std::vector<Event> backlog, DeferredCallbacks* ready) {
    std::lock_guard<std::mutex> l(mu_);
    backlog_pending_ = false;
    if (end_ == End::kNone || end_ == End::kTimeout) backlog_ = std::move(backlog);
    if (AvailableLocked() || end_ != End::kNone) SignalLocked(ready);
  }

  // Timer: a BOOKMARK if bookmarks are on and nothing was queued for
  // `interval`. Returns when the next bookmark may be due.
  Clock::time_point MaybeBookmark(Revision revision, Clock::time_point now, std::chrono::milliseconds interval,
                                  DeferredCallbacks* ready) {
    std::lock_guard<std::mutex> l(mu_);
    if (end_ != End::kNone) return Clock::time_point::max();
    if (now - last_activity_ < interval) return last_activity_ + interval;
    // Due, but the queue is full (its client stopped reading): try again
    // an interval later, not at once, which would spin the timer.
    if (queue_.size() >= capacity_) return now + interval;
    bool was_empty = !AvailableLocked();
    Event bookmark;
    bookmark.type = EventType::kBookmark;
    bookmark.revision = revision;
    queue_.push_back(std::move(bookmark));
    last_activity_ = now;
    if (was_empty) SignalLocked(ready);
    return last_activity_ + interval;
  }

  // Ends the watch from the store's side. kTimeout keeps what is queued so a
  // clean end still delivers everything up to it; kShutdown drops it, also
  // from a watch that timed out and is still delivering (S18).
  void EndWith(End why, DeferredCallbacks* ready) {
    std::lock_guard<std::mutex> l(mu_);
    if (end_ != End::kNone && !(end_ == End::kTimeout && why == End::kShutdown)) return;
    end_ = why;
    if (why != End::kTimeout) DropLocked();
    SignalLocked(ready);
  }

  bool Next(Event* out) override {
    std::lock_guard<std::mutex> l(mu_);
    return TakeLocked(out);
  }

  bool HasNext() const override {
    std::lock_guard<std::mutex> l(mu_);
    return AvailableLocked();
  }

  // Events still to deliver, or a backlog still to come.
  bool Holding() const {
    std::lock_guard<std::mutex> l(mu_);
    return backlog_pending_ || AvailableLocked();
  }

  bool WaitNext(Event* out, std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> l(mu_);
    ++waiters_;
    cv_.wait_for(l, timeout, [this] { return AvailableLocked() || end_ != End::kNone; });
    --waiters_;
    return TakeLocked(out);
  }

  void SetReadyCallback(std::function<void()> ready) override {
    DeferredCallback cb = ready ? std::make_shared<const std::function<void()>>(std::move(ready)) : nullptr;
    bool call_now;
    {
      std::lock_guard<std::mutex> l(mu_);
      ready_ = cb;
      call_now = AvailableLocked() || end_ != End::kNone;
    }
    if (cb && call_now) (*cb)();
  }

  End end() const override {
    std::lock_guard<std::mutex> l(mu_);
    return end_;
  }

  void Cancel() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (end_ == End::kNone) {
        end_ = End::kCancelled;
        DropLocked();
      } else if (end_ == End::kTimeout) {
        DropLocked();  // nobody will take what it still holds
      }
      if (waiters_ > 0) cv_.notify_all();
    }
    hub_->Remove(this);
  }

  Revision last_revision() const override {
    std::lock_guard<std::mutex> l(mu_);
    return last_revision_;
  }

 private:
  bool AvailableLocked() const {
    return !backlog_pending_ && (backlog_pos_ < backlog_.size() || !queue_.empty());
  }

  void DropLocked() {
    std::deque<Event>().swap(queue_);
    std::vector<Event>().swap(backlog_);
    backlog_pos_ = 0;
  }

  void SignalLocked(DeferredCallbacks* ready) {
    if (waiters_ > 0) cv_.notify_all();
    ready->Add(ready_);
  }

  bool TakeLocked(Event* out) {
    if (backlog_pending_) return false;
    if (backlog_pos_ < backlog_.size()) {
      *out = std::move(backlog_[backlog_pos_++]);
      if (backlog_pos_ == backlog_.size()) {
        std::vector<Event>().swap(backlog_);
        backlog_pos_ = 0;
      }
    } else if (!queue_.empty()) {
      *out = std::move(queue_.front());
      queue_.pop_front();
    } else {
      return false;
    }
    last_revision_ = out->revision;
    hub_->CountDelivered();
    return true;
  }

  const std::shared_ptr<WatchHub> hub_;
  const SelectionPredicate filter_;
  const std::size_t capacity_;
  const bool allow_bookmarks_;
  std::optional<Clock::time_point> deadline_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::size_t waiters_ = 0;
  bool backlog_pending_ = true;  // until StartBacklog
  std::vector<Event> backlog_;
  std::size_t backlog_pos_ = 0;
  std::deque<Event> queue_;
  End end_ = End::kNone;
  DeferredCallback ready_;
  Revision last_revision_ = 0;
  Clock::time_point last_activity_;
};

WatchHub::WatchHub(std::size_t max_watchers, std::chrono::milliseconds bookmark_interval)
    : max_watchers_(max_watchers), bookmark_interval_(bookmark_interval) {}

WatchHub::~WatchHub() { StopTimer(); }

void WatchHub::SetRevision(Revision revision) {
  std::lock_guard<std::mutex> l(mu_);
  revision_ = revision;
}

void WatchHub::StartTimer() {
  std::lock_guard<std::mutex> l(timer_mu_);
  if (timer_.joinable() || timer_stop_) return;
  timer_ = std::thread([this] { TimerLoop(); });
}

void WatchHub::StopTimer() {
  {
    std::lock_guard<std::mutex> l(timer_mu_);
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) {
    // A ready callback run by the timer thread could drop the last reference
    // to the store; never join ourselves.
    if (timer_.get_id() == std::this_thread::get_id()) {
      timer_.detach();
    } else {
      timer_.join();
    }
  }
}

void WatchHub::KickTimer() {
  {
    std::lock_guard<std::mutex> l(timer_mu_);
    timer_kick_ = true;
  }
  timer_cv_.notify_all();
}

Result<std::shared_ptr<Watcher>> WatchHub::Register(SelectionPredicate filter, const WatcherSettings& settings) {
  bool needs_timer = settings.allow_bookmarks || settings.timeout.count() > 0;
  std::shared_ptr<HubWatcher> watcher;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shutdown_) return MakeError(ErrorCode::kUnavailable, "store is shutting down");
    if (watchers_.size() + CountTimedOutLocked() >= max_watchers_) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "too many watchers: the limit of " + std::to_string(max_watchers_) +
                           " concurrent watches is reached");
    }
    watcher = std::make_shared<HubWatcher>(shared_from_this(), std::move(filter), settings, Clock::now());
    watchers_.push_back(watcher);
  }
  if (needs_timer) KickTimer();
  return std::shared_ptr<Watcher>(std::move(watcher));
}

void WatchHub::StartBacklog(Watcher& watcher, std::vector<Event> backlog, DeferredCallbacks* ready) {
  // Every Watcher this hub hands out is a HubWatcher.
  static_cast<HubWatcher&>(watcher).StartBacklog(std::move(backlog), ready);
}

void WatchHub::Publish(const Event& event, DeferredCallbacks* ready) {
  const auto now = Clock::now();
  std::lock_guard<std::mutex> l(mu_);
  revision_ = event.revision;
  for (std::size_t i = 0; i < watchers_.size();) {
    HubWatcher& w = *watchers_[i];
    Event out;
    if (w.filter().Transform(event, &out) && !w.Push(std::move(out), now, ready)) {
      // Overflowed: it is over and its slot is free (S16, S19).
      evicted_.fetch_add(1, std::memory_order_relaxed);
      watchers_[i] = std::move(watchers_.back());
      watchers_.pop_back();
      continue;
    }
    ++i;
  }
}

void WatchHub::Shutdown(DeferredCallbacks* ready) {
  std::vector<std::shared_ptr<HubWatcher>> ended;
  {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
    ended.swap(watchers_);
    for (const auto& weak : timed_out_) {
      if (auto w = weak.lock()) ended.push_back(std::move(w));
    }
    timed_out_.clear();
    for (auto& w : ended) w->EndWith(Watcher::End::kShutdown, ready);
  }
  // `ended` may hold the last references; they go here, outside the lock.
}

void WatchHub::Remove(const HubWatcher* watcher) {
  std::shared_ptr<HubWatcher> keep;  // released outside the lock
  std::lock_guard<std::mutex> l(mu_);
  auto it = std::find_if(watchers_.begin(), watchers_.end(), [&](const auto& w) { return w.get() == watcher; });
  if (it != watchers_.end()) {
    keep = std::move(*it);
    *it = std::move(watchers_.back());
    watchers_.pop_back();
  }
  std::erase_if(timed_out_, [&](const auto& w) { return w.expired() || w.lock().get() == watcher; });
}

std::size_t WatchHub::CountTimedOutLocked() const {
  std::erase_if(timed_out_, [](const auto& weak) {
    auto w = weak.lock();
    return !w || !w->Holding();
  });
  return timed_out_.size();
}

std::size_t WatchHub::active_watchers() const {
  std::lock_guard<std::mutex> l(mu_);
  return watchers_.size() + CountTimedOutLocked();
}

WatchHub::Clock::time_point WatchHub::Tick(Clock::time_point now, DeferredCallbacks* ready) {
  auto next = Clock::time_point::max();
  std::vector<std::shared_ptr<HubWatcher>> ended;
  std::lock_guard<std::mutex> l(mu_);
  for (std::size_t i = 0; i < watchers_.size();) {
    HubWatcher& w = *watchers_[i];
    if (w.deadline() && now >= *w.deadline()) {
      // S18: timeout_seconds passed; the consumer ends the stream with OK
      // once it has taken what is queued. Until then its queue is still a
      // watcher's memory: it keeps its slot (S19, S33), and shutdown still
      // ends it.
      w.EndWith(Watcher::End::kTimeout, ready);
      if (w.Holding()) timed_out_.push_back(watchers_[i]);
      ended.push_back(std::move(watchers_[i]));
      watchers_[i] = std::move(watchers_.back());
      watchers_.pop_back();
      continue;
    }
    if (w.deadline()) next = std::min(next, *w.deadline());
    if (w.allow_bookmarks()) next = std::min(next, w.MaybeBookmark(revision_, now, bookmark_interval_, ready));
    ++i;
  }
  return next;
}

void WatchHub::TimerLoop() {
  std::unique_lock<std::mutex> l(timer_mu_);
  while (!timer_stop_) {
    timer_kick_ = false;
    l.unlock();
    DeferredCallbacks ready;
    auto next = Tick(Clock::now(), &ready);
    ready.Run();
    l.lock();
    auto pred = [this] { return timer_stop_ || timer_kick_; };
    if (next == Clock::time_point::max()) {
      timer_cv_.wait(l, pred);
    } else {
      timer_cv_.wait_until(l, next, pred);
    }
  }
}

}  // namespace deviceapi::store
