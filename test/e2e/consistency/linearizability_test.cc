// The history checker must be able to fail: histories that are not
// linearizable are refused, with the operation it could not place.
#include "linearizability.h"

#include <gtest/gtest.h>

namespace deviceapi::consistency {
namespace {

using Kind = CounterOp::Kind;
using Outcome = CounterOp::Outcome;

CounterOp Read(std::int64_t value, std::int64_t call, std::int64_t ret) {
  return {Kind::kRead, Outcome::kOk, value, call, ret, "read"};
}
CounterOp Cas(std::int64_t from, Outcome outcome, std::int64_t call, std::int64_t ret) {
  return {Kind::kCas, outcome, from, call, ret, "cas"};
}

TEST(Linearizability, SequentialHistoryIsLinearizable) {
  auto r = CheckCounterHistory(
      {Read(0, 0, 1), Cas(0, Outcome::kOk, 2, 3), Read(1, 4, 5), Cas(0, Outcome::kFailed, 6, 7)}, 0);
  EXPECT_TRUE(r.linearizable) << r.explanation;
}

// S8: a read that starts after a write was acknowledged must see it.
TEST(Linearizability, StaleReadAfterAcknowledgedWriteIsRefusedS8) {
  auto r = CheckCounterHistory({Cas(0, Outcome::kOk, 0, 10), Read(0, 11, 12)}, 0);
  EXPECT_FALSE(r.linearizable);
  EXPECT_NE(r.explanation.find("read 0"), std::string::npos) << r.explanation;
}

TEST(Linearizability, ReadOverlappingWriteMaySeeEither) {
  EXPECT_TRUE(CheckCounterHistory({Cas(0, Outcome::kOk, 0, 10), Read(0, 5, 6)}, 0).linearizable);
  EXPECT_TRUE(CheckCounterHistory({Cas(0, Outcome::kOk, 0, 10), Read(1, 5, 6)}, 0).linearizable);
}

// S8: once one reader saw the new value, a later read may not see the old one.
TEST(Linearizability, NewThenOldReadIsRefusedS8) {
  auto r = CheckCounterHistory(
      {Cas(0, Outcome::kOk, 0, 100), Read(1, 10, 20), Read(0, 30, 40)}, 0);
  EXPECT_FALSE(r.linearizable);
}

// S5: two swaps from the same value cannot both apply (one write would be lost).
TEST(Linearizability, TwoSwapsFromOneValueAreRefusedS5) {
  auto r = CheckCounterHistory({Cas(0, Outcome::kOk, 0, 10), Cas(0, Outcome::kOk, 5, 15)}, 0);
  EXPECT_FALSE(r.linearizable);
}

TEST(Linearizability, FailedSwapNeedsAnotherValue) {
  EXPECT_FALSE(CheckCounterHistory({Cas(0, Outcome::kFailed, 0, 10)}, 0).linearizable);
  EXPECT_TRUE(
      CheckCounterHistory({Cas(0, Outcome::kOk, 0, 10), Cas(0, Outcome::kFailed, 5, 15)}, 0)
          .linearizable);
}

TEST(Linearizability, UnknownSwapMayOrMayNotHaveApplied) {
  CounterOp unknown = Cas(0, Outcome::kUnknown, 0, 0);
  EXPECT_TRUE(CheckCounterHistory({unknown, Read(1, 10, 20)}, 0).linearizable);
  EXPECT_TRUE(CheckCounterHistory({unknown, Read(0, 10, 20)}, 0).linearizable);
  // ...but not applied and then undone.
  EXPECT_FALSE(CheckCounterHistory({unknown, Read(1, 10, 20), Read(0, 30, 40)}, 0).linearizable);
}

TEST(Linearizability, LongConcurrentHistoryChecksQuickly) {
  // 4 clients, 20,000 operations, each overlapping its neighbours.
  std::vector<CounterOp> ops;
  std::int64_t value = 0;
  for (std::int64_t t = 0; t < 5000; ++t) {
    ops.push_back(Cas(value, Outcome::kOk, t * 10, t * 10 + 15));
    ops.push_back(Cas(value, Outcome::kFailed, t * 10 + 1, t * 10 + 16));
    ops.push_back(Read(value, t * 10 - 1, t * 10 + 3));
    ops.push_back(Read(value + 1, t * 10 + 5, t * 10 + 16));
    ++value;
  }
  auto r = CheckCounterHistory(ops, 0);
  EXPECT_TRUE(r.linearizable) << r.explanation;
  EXPECT_FALSE(r.gave_up);
}

}  // namespace
}  // namespace deviceapi::consistency
