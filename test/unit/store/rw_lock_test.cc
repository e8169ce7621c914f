// S8: the store's lock prefers writers: once a writer waits, new readers
// queue behind it instead of overtaking it.
#include "store/rw_lock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <thread>

namespace deviceapi::store {
namespace {

template <typename Pred>
void SpinUntil(Pred pred) {
  while (!pred()) std::this_thread::yield();
}

// S8
TEST(WriterPreferringMutex, NewReaderWaitsBehindWaitingWriterS8) {
  WriterPreferringMutex mu;
  std::atomic<int> order{0};
  int writer_saw = -1, reader_saw = -1;

  std::shared_lock<WriterPreferringMutex> first_reader(mu);  // a read in progress
  std::thread writer([&] {
    std::unique_lock<WriterPreferringMutex> l(mu);
    writer_saw = order.fetch_add(1);
  });
  SpinUntil([&] { return mu.waiting_writers() == 1; });
  std::thread reader([&] {
    std::shared_lock<WriterPreferringMutex> l(mu);
    reader_saw = order.fetch_add(1);
  });
  // The late reader is blocked although only a reader holds the lock.
  SpinUntil([&] { return mu.waiting_readers() == 1; });
  EXPECT_EQ(order.load(), 0);
  first_reader.unlock();
  writer.join();
  reader.join();
  EXPECT_EQ(writer_saw, 0);  // the writer went first
  EXPECT_EQ(reader_saw, 1);
}

TEST(WriterPreferringMutex, ReadersShareAndWritersExclude) {
  WriterPreferringMutex mu;
  std::shared_lock<WriterPreferringMutex> a(mu);
  std::shared_lock<WriterPreferringMutex> b(mu);  // would deadlock if readers excluded each other
  a.unlock();
  b.unlock();
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (i % 4 == 0) {
          std::unique_lock<WriterPreferringMutex> l(mu);
          ++counter;
        } else {
          std::shared_lock<WriterPreferringMutex> l(mu);
          EXPECT_GE(counter, 0);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 4 * 500);
}

}  // namespace
}  // namespace deviceapi::store
