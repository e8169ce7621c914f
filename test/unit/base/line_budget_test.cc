// LineBudget: a repeated log line is written at most N times a second, and
// the next line written after a refusal says how many were dropped (S16: a
// client that triggers warnings at any rate cannot flood the log).
#include "base/line_budget.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

namespace deviceapi::base {
namespace {

using std::chrono::milliseconds;

TEST(LineBudget, AdmitsTheBudgetThenCountsTheRestS16) {
  LineBudget budget(3);
  const auto t0 = LineBudget::Clock::time_point{} + std::chrono::hours(1);
  std::uint64_t dropped = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(budget.Admit(&dropped, t0 + milliseconds(i))) << i;
    EXPECT_EQ(dropped, 0u);
  }
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(budget.Admit(&dropped, t0 + milliseconds(500)));
  // Still inside the window.
  EXPECT_FALSE(budget.Admit(&dropped, t0 + milliseconds(999)));
  // The next window admits again and reports the eight refused.
  ASSERT_TRUE(budget.Admit(&dropped, t0 + milliseconds(1000)));
  EXPECT_EQ(dropped, 8u);
  ASSERT_TRUE(budget.Admit(&dropped, t0 + milliseconds(1001)));
  EXPECT_EQ(dropped, 0u) << "a count is reported once";
}

TEST(LineBudget, TakeDroppedReportsAndForgetsS16) {
  LineBudget budget(1);
  const auto t0 = LineBudget::Clock::time_point{} + std::chrono::hours(1);
  std::uint64_t dropped = 0;
  ASSERT_TRUE(budget.Admit(&dropped, t0));
  EXPECT_FALSE(budget.Admit(&dropped, t0));
  EXPECT_FALSE(budget.Admit(&dropped, t0));
  EXPECT_EQ(budget.TakeDropped(), 2u);
  EXPECT_EQ(budget.TakeDropped(), 0u);
  ASSERT_TRUE(budget.Admit(&dropped, t0 + std::chrono::seconds(2)));
  EXPECT_EQ(dropped, 0u);
}

}  // namespace
}  // namespace deviceapi::base
