#include "store/revision_waiters.h"

#include <string>
#include <utility>
#include <vector>

namespace deviceapi::store {
namespace {

Error ShuttingDown() { return MakeError(ErrorCode::kUnavailable, "store is shutting down"); }

// Runs callbacks collected under the mutex, after it is released.
void Fire(std::vector<RevisionWaiters::Done>& done, const Result<bool>& result) {
  for (auto& d : done) d(result);
}

}  // namespace

RevisionWaiters::RevisionWaiters(const std::atomic<Revision>& current, std::size_t max_waiters,
                                 std::chrono::milliseconds wait)
    : current_(current), max_waiters_(max_waiters), wait_(wait) {
  timer_ = std::thread([this] { TimerLoop(); });
}

RevisionWaiters::~RevisionWaiters() { Shutdown(); }

Result<bool> RevisionWaiters::Add(Revision wanted, Done done, bool limited) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shutdown_) return ShuttingDown();
    // Registered (count_ raised) before the revision is read: a writer that
    // stores a later revision sees count_ > 0 and takes the mutex.
    if (current_.load() < wanted) {
      if (limited && by_seq_.size() >= max_waiters_) {
        return MakeError(ErrorCode::kResourceExhausted,
                         "too many reads waiting for a future resource version: the limit of " +
                             std::to_string(max_waiters_) + " is reached");
      }
      count_.fetch_add(1);
      if (current_.load() < wanted) {
        const std::uint64_t seq = next_seq_++;
        const bool first = by_seq_.empty();
        by_seq_.emplace(seq, std::make_pair(Clock::now() + wait_, Entry{wanted, std::move(done)}));
        by_revision_.emplace(wanted, seq);
        if (first) timer_cv_.notify_all();
        return true;
      }
      count_.fetch_sub(1);
    }
  }
  done(true);
  return true;
}

void RevisionWaiters::Reached(Revision reached) {
  if (count_.load() == 0) return;
  std::vector<Done> ready;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto end = by_revision_.upper_bound(reached);
    for (auto it = by_revision_.begin(); it != end; ++it) {
      auto entry = by_seq_.find(it->second);
      ready.push_back(std::move(entry->second.second.done));
      by_seq_.erase(entry);
    }
    by_revision_.erase(by_revision_.begin(), end);
    count_.fetch_sub(ready.size());
  }
  Fire(ready, true);
}

void RevisionWaiters::Shutdown() {
  std::vector<Done> ended;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!shutdown_) {
      shutdown_ = true;
      for (auto& [seq, entry] : by_seq_) ended.push_back(std::move(entry.second.done));
      by_seq_.clear();
      by_revision_.clear();
      count_.store(0);
      timer_cv_.notify_all();
    }
  }
  Fire(ended, ShuttingDown());
  if (timer_.joinable()) {
    // A callback run by the timer thread could drop the last reference to
    // the store; never join ourselves.
    if (timer_.get_id() == std::this_thread::get_id()) {
      timer_.detach();
    } else {
      timer_.join();
    }
  }
}

void RevisionWaiters::TimerLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!shutdown_) {
    if (by_seq_.empty()) {
      timer_cv_.wait(l);
      continue;
    }
    const auto now = Clock::now();
    std::vector<std::pair<Revision, Done>> expired;
    for (auto it = by_seq_.begin(); it != by_seq_.end() && it->second.first <= now;) {
      const Revision wanted = it->second.second.wanted;
      for (auto r = by_revision_.find(wanted); r != by_revision_.end() && r->first == wanted; ++r) {
        if (r->second == it->first) {
          by_revision_.erase(r);
          break;
        }
      }
      expired.emplace_back(wanted, std::move(it->second.second.done));
      it = by_seq_.erase(it);
    }
    if (expired.empty()) {
      // A copy: the entry may be answered (erased) while this waits.
      const Clock::time_point next = by_seq_.begin()->second.first;
      timer_cv_.wait_until(l, next);
      continue;
    }
    count_.fetch_sub(expired.size());
    l.unlock();
    const Revision current = current_.load();
    for (auto& [wanted, done] : expired) {
      done(MakeError(ErrorCode::kTooLargeRevision, "too large resource version: " + std::to_string(wanted) +
                                                       " (current: " + std::to_string(current) + ")"));
    }
    expired.clear();  // callbacks' captures go before the lock is taken again
    l.lock();
  }
}

}  // namespace deviceapi::store
