// SetCondition / RemoveCondition / FindCondition (S6: the transition time
// changes only when the status changes).
#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "deviceapi/conditions.h"

namespace deviceapi {
namespace {

using std::chrono::system_clock;
using google::protobuf::util::TimeUtil;

system_clock::time_point At(long long s) { return system_clock::time_point(std::chrono::seconds(s)); }

// S6
TEST(Conditions, TransitionTimeChangesOnlyWithStatus) {
  GpuStatus st;
  EXPECT_TRUE(SetCondition(&st, MakeCondition("Ready", "True", "Ok", "fine"), At(100)));
  ASSERT_EQ(st.conditions_size(), 1);
  EXPECT_EQ(st.conditions(0).last_transition_time().seconds(), 100);

  // Same status, new message: changed, but the transition time stays.
  EXPECT_TRUE(SetCondition(&st, MakeCondition("Ready", "True", "Ok", "still fine"), At(200)));
  EXPECT_EQ(st.conditions(0).last_transition_time().seconds(), 100);
  EXPECT_EQ(st.conditions(0).message(), "still fine");

  // Identical: nothing changed (no write needed).
  EXPECT_FALSE(SetCondition(&st, MakeCondition("Ready", "True", "Ok", "still fine"), At(300)));

  // Status flips: new transition time.
  EXPECT_TRUE(SetCondition(&st, MakeCondition("Ready", "False", "Xid", "xid 79"), At(400)));
  EXPECT_EQ(st.conditions(0).last_transition_time().seconds(), 400);
  EXPECT_EQ(st.conditions_size(), 1);
}

TEST(Conditions, CallerSuppliedTimeIsKeptOnTransition) {
  GpuStatus st;
  Condition c = MakeCondition("Ready", "True");
  *c.mutable_last_transition_time() = TimeUtil::SecondsToTimestamp(42);
  SetCondition(&st, c, At(100));
  EXPECT_EQ(st.conditions(0).last_transition_time().seconds(), 42);
}

TEST(Conditions, OtherConditionsAreUntouched) {
  GpuStatus st;
  SetCondition(&st, MakeCondition("A", "True"), At(1));
  SetCondition(&st, MakeCondition("B", "False"), At(2));
  SetCondition(&st, MakeCondition("A", "False"), At(3));
  ASSERT_EQ(st.conditions_size(), 2);
  EXPECT_EQ(FindCondition(st, "B")->status(), "False");
  EXPECT_EQ(FindCondition(st, "B")->last_transition_time().seconds(), 2);
  EXPECT_FALSE(IsConditionTrue(st, "A"));
  EXPECT_EQ(FindCondition(st, "C"), nullptr);
}

TEST(Conditions, Remove) {
  GpuStatus st;
  SetCondition(&st, MakeCondition("A", "True"));
  SetCondition(&st, MakeCondition("B", "True"));
  EXPECT_TRUE(RemoveCondition(&st, "A"));
  EXPECT_FALSE(RemoveCondition(&st, "A"));
  ASSERT_EQ(st.conditions_size(), 1);
  EXPECT_EQ(st.conditions(0).type(), "B");
  EXPECT_TRUE(IsConditionTrue(st, "B"));
  Condition* b = FindCondition(&st, "B");
  b->set_reason("Edited");
  EXPECT_EQ(st.conditions(0).reason(), "Edited");
}

}  // namespace
}  // namespace deviceapi
