// The asynchronous wait for a future revision (S9) that holds no thread while
// it waits (S32): Store::WaitForRevision fires from the commit that reaches the
// revision, from the shared timer with "too large resource version", or from
// Shutdown; it is bounded (S33); callbacks run with no store lock held.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT
using std::chrono::milliseconds;

// Collects the results of WaitForRevision callbacks and on which thread they ran.
struct Outcomes {
  std::mutex mu;
  std::vector<Result<bool>> results;
  std::vector<std::thread::id> threads;
  std::atomic<int> count{0};

  std::function<void(Result<bool>)> Callback() {
    return [this](Result<bool> r) {
      std::lock_guard<std::mutex> l(mu);
      results.push_back(std::move(r));
      threads.push_back(std::this_thread::get_id());
      count.fetch_add(1);
    };
  }
  bool WaitFor(int n, milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count.load() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(1));
    }
    return true;
  }
};

// S9/S32: a reached revision answers at once, on the caller's thread.
TEST(RevisionWait, ReachedRevisionFiresAtOnceS32) {
  Outcomes out;  // outlives the store, whose shutdown may call back
  auto s = OpenStore();
  s->WaitForRevision(100, out.Callback());
  s->WaitForRevision(0, out.Callback());
  ASSERT_EQ(out.count.load(), 2);
  EXPECT_TRUE(out.results[0].ok());
  EXPECT_TRUE(out.results[1].ok());
  EXPECT_EQ(out.threads[0], std::this_thread::get_id());
  EXPECT_EQ(s->Stats().revision_waiters, 0u);
}

// S32: many waits for a future revision hold no thread: they are answered
// by the write that reaches the revision, on that writer's thread, after its
// lock is released (the callback reads the store, which would deadlock
// under the write lock).
TEST(RevisionWait, CommitFiresWaitersWithoutHoldingThreadsS32) {
  Outcomes out;  // outlives the store, whose shutdown may call back
  auto o = SmallOptions();
  o.future_revision_wait = milliseconds(30000);
  auto s = OpenStore(o);
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "v1").ok());  // 101
  std::vector<std::string> seen(500);
  for (int i = 0; i < 500; ++i) {
    s->WaitForRevision(102 + (i % 2), [&, i, cb = out.Callback()](Result<bool> r) {
      if (r.ok()) seen[i] = As(*s->Get(Key("ns", "a"))).data();  // no lock held
      cb(std::move(r));
    });
  }
  EXPECT_EQ(out.count.load(), 0);
  EXPECT_EQ(s->Stats().revision_waiters, 500u);

  ASSERT_TRUE(Update(*s, Key("ns", "a"), "v2").ok());  // 102: fires half of them
  EXPECT_EQ(out.count.load(), 250);                     // before Update returned
  ASSERT_TRUE(Update(*s, Key("ns", "a"), "v3").ok());  // 103: the rest
  ASSERT_EQ(out.count.load(), 500);
  for (int i = 0; i < 500; ++i) {
    EXPECT_TRUE(out.results[i].ok());
    EXPECT_EQ(out.threads[i], std::this_thread::get_id());  // the writer's thread
  }
  EXPECT_EQ(seen[0], "v2");
  EXPECT_EQ(seen[1], "v3");
  EXPECT_EQ(s->Stats().revision_waiters, 0u);
}

// S9: without the write, every waiter ends with "too large resource version"
// after future_revision_wait, from the one timer thread.
TEST(RevisionWait, TimesOutWithTooLargeRevisionS9) {
  Outcomes out;  // outlives the store, whose shutdown may call back
  auto o = SmallOptions();
  o.future_revision_wait = milliseconds(100);
  auto s = OpenStore(o);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) s->WaitForRevision(500 + i, out.Callback());
  ASSERT_TRUE(out.WaitFor(50, milliseconds(5000)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(100));
  std::lock_guard<std::mutex> l(out.mu);
  for (int i = 0; i < 50; ++i) {
    ASSERT_FALSE(out.results[i].ok());
    EXPECT_EQ(out.results[i].error().code, ErrorCode::kTooLargeRevision);
    EXPECT_EQ(out.results[i].error().message.rfind("too large resource version: ", 0), 0u);
    EXPECT_NE(out.threads[i], std::this_thread::get_id());
    EXPECT_EQ(out.threads[i], out.threads[0]);  // one shared timer
  }
  EXPECT_EQ(s->Stats().revision_waiters, 0u);
}

// S22/S32: shutdown answers every waiter at once with kUnavailable.
TEST(RevisionWait, ShutdownWakesAllS32) {
  Outcomes out;  // outlives the store, whose shutdown may call back
  auto o = SmallOptions();
  o.future_revision_wait = milliseconds(30000);
  auto s = OpenStore(o);
  for (int i = 0; i < 100; ++i) s->WaitForRevision(1000, out.Callback());
  auto blocking = std::async(std::launch::async, [&] { return s->Get(Key("ns", "a"), GetOptions{1000}); });
  while (s->Stats().revision_waiters < 101) std::this_thread::yield();
  s->Shutdown();
  ASSERT_EQ(out.count.load(), 100);
  for (const auto& r : out.results) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  }
  ASSERT_EQ(blocking.wait_for(milliseconds(5000)), std::future_status::ready);
  EXPECT_EQ(blocking.get().error().code, ErrorCode::kUnavailable);
  // Later waits are refused at once.
  s->WaitForRevision(1000, out.Callback());
  ASSERT_EQ(out.count.load(), 101);
  EXPECT_EQ(out.results.back().error().code, ErrorCode::kUnavailable);
}

// S33: the number of waiting calls is bounded; past it, RESOURCE_EXHAUSTED
// at once, and a slot frees when a waiter is answered.
TEST(RevisionWait, WaitersAreBoundedS33) {
  Outcomes out;  // outlives the store, whose shutdown may call back
  auto o = SmallOptions();
  o.future_revision_wait = milliseconds(30000);
  o.max_revision_waiters = 3;
  auto s = OpenStore(o);
  for (int i = 0; i < 3; ++i) s->WaitForRevision(101, out.Callback());
  s->WaitForRevision(102, out.Callback());
  ASSERT_EQ(out.count.load(), 1);
  EXPECT_EQ(out.results[0].error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(out.results[0].error().message.find("limit of 3"), std::string::npos);
  ASSERT_TRUE(Create(*s, Key("ns", "a")).ok());  // 101: frees the three
  ASSERT_EQ(out.count.load(), 4);
  s->WaitForRevision(102, out.Callback());
  EXPECT_EQ(out.count.load(), 4);  // waiting again
  EXPECT_EQ(s->Stats().revision_waiters, 1u);
}

// S9 under concurrency (TSan): writers and waiters race; every waiter is
// answered exactly once, successfully, and none is lost between its check of
// the revision and the commit that reaches it.
TEST(RevisionWait, NoLostWakeupUnderConcurrentWritesS9) {
  auto o = SmallOptions();
  o.future_revision_wait = milliseconds(30000);
  auto s = OpenStore(o);
  ASSERT_TRUE(Create(*s, Key("ns", "a"), {}, "0").ok());  // 101
  constexpr int kWrites = 300;
  std::atomic<int> answered{0}, failed{0};
  std::thread writer([&] {
    for (int i = 1; i <= kWrites; ++i) ASSERT_TRUE(Update(*s, Key("ns", "a"), std::to_string(i)).ok());
  });
  std::vector<std::thread> waiters;
  for (int t = 0; t < 3; ++t) {
    waiters.emplace_back([&] {
      for (int i = 1; i <= kWrites; ++i) {
        s->WaitForRevision(101 + i, [&](Result<bool> r) {
          (r.ok() ? answered : failed).fetch_add(1);
        });
      }
    });
  }
  writer.join();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(answered.load(), 3 * kWrites);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(s->Stats().revision_waiters, 0u);
}

}  // namespace
}  // namespace deviceapi::store
