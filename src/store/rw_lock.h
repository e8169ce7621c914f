// A reader-writer lock that prefers writers (S8).
//
// glibc's std::shared_mutex (pthread_rwlock) prefers readers: a steady stream
// of Get/List calls could keep a write waiting indefinitely, and a read that
// arrives while a write waits would be served the state before that write.
// Here a waiting or active writer blocks every new reader, so a read that
// arrives while a write is pending or being applied waits for it and then
// sees it. Writers may starve readers under a continuous write load; that is
// the intended trade-off (writes are short and bounded).
//
// Meets the Lockable and SharedLockable requirements, so std::unique_lock and
// std::shared_lock work with it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace deviceapi::store {

class WriterPreferringMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> l(mu_);
    ++waiting_writers_;
    writers_cv_.wait(l, [this] { return !writer_active_ && active_readers_ == 0; });
    --waiting_writers_;
    writer_active_ = true;
  }

  void unlock() {
    std::lock_guard<std::mutex> l(mu_);
    writer_active_ = false;
    // Hand over to the next writer first; readers go once no writer waits.
    if (waiting_writers_ > 0) {
      writers_cv_.notify_one();
    } else {
      readers_cv_.notify_all();
    }
  }

  void lock_shared() {
    std::unique_lock<std::mutex> l(mu_);
    ++waiting_readers_;
    readers_cv_.wait(l, [this] { return !writer_active_ && waiting_writers_ == 0; });
    --waiting_readers_;
    ++active_readers_;
  }

  void unlock_shared() {
    std::lock_guard<std::mutex> l(mu_);
    --active_readers_;
    if (active_readers_ == 0 && waiting_writers_ > 0) writers_cv_.notify_one();
  }

  // For tests: how many readers are blocked in lock_shared() right now.
  std::size_t waiting_readers() const {
    std::lock_guard<std::mutex> l(mu_);
    return waiting_readers_;
  }
  // For tests: how many writers are blocked in lock() right now.
  std::size_t waiting_writers() const {
    std::lock_guard<std::mutex> l(mu_);
    return waiting_writers_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable readers_cv_;
  std::condition_variable writers_cv_;
  std::size_t active_readers_ = 0;
  std::size_t waiting_readers_ = 0;
  std::size_t waiting_writers_ = 0;
  bool writer_active_ = false;
};

}  // namespace deviceapi::store
