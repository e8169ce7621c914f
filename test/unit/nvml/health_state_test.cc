#include "nvml/health_state.h"

#include <gtest/gtest.h>

namespace deviceapi::nvml {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

class HealthStateTest : public ::testing::Test {
 protected:
  XidPolicy policy_;
  HealthState s_;
  Clock::time_point t0_ = Clock::time_point() + std::chrono::hours(1);
};

TEST_F(HealthStateTest, HealthyByDefault) {
  auto v = s_.Verdict();
  EXPECT_TRUE(v.ready);
  EXPECT_EQ(v.reason, "Healthy");
  EXPECT_EQ(v.recommended_action, "");
}

TEST_F(HealthStateTest, IgnoredXidChangesNothing) {
  EXPECT_FALSE(s_.OnXid(13, policy_.Classify(13), t0_));
  EXPECT_FALSE(s_.OnXid(63, policy_.Classify(63), t0_));
  EXPECT_EQ(s_.Verdict(), HealthVerdict{});
}

TEST_F(HealthStateTest, WarningStaysReadyAndClearsAfterQuietPeriod) {
  EXPECT_TRUE(s_.OnXid(8, policy_.Classify(8), t0_));
  auto v = s_.Verdict();
  EXPECT_TRUE(v.ready);
  EXPECT_EQ(v.reason, "XidWarning");
  EXPECT_EQ(v.recommended_action, "RESTART_APP");
  EXPECT_NE(v.message.find("warning only"), std::string::npos);
  EXPECT_FALSE(s_.ExpireWarnings(t0_ + minutes(4), minutes(5)));
  s_.OnXid(8, policy_.Classify(8), t0_ + minutes(4));  // seen again: quiet period restarts
  EXPECT_FALSE(s_.ExpireWarnings(t0_ + minutes(6), minutes(5)));
  EXPECT_TRUE(s_.ExpireWarnings(t0_ + minutes(9), minutes(5)));
  EXPECT_EQ(s_.Verdict(), HealthVerdict{});
}

TEST_F(HealthStateTest, FatalXidStaysUntilReset) {
  EXPECT_TRUE(s_.OnXid(95, policy_.Classify(95), t0_));
  auto v = s_.Verdict();
  EXPECT_FALSE(v.ready);
  EXPECT_EQ(v.reason, "XidError");
  EXPECT_EQ(v.recommended_action, "RESET_GPU");
  EXPECT_NE(v.message.find("ROBUST_CHANNEL_UNCONTAINED_ERROR"), std::string::npos);
  EXPECT_FALSE(s_.ExpireWarnings(t0_ + std::chrono::hours(24), minutes(5)));
  EXPECT_FALSE(s_.Verdict().ready);
  // A clean probe without a reset signal clears nothing.
  EXPECT_FALSE(s_.OnProbe(ProbeResult{}, /*after_reset=*/false, t0_));
  EXPECT_FALSE(s_.Verdict().ready);
}

TEST_F(HealthStateTest, RecoveryActionNoneAfterActionPlusCleanProbeClearsFatal) {
  s_.OnXid(48, policy_.Classify(48), t0_);
  s_.OnRecoveryAction(RecoveryAction::kGpuReset, t0_);
  EXPECT_EQ(s_.Verdict().recommended_action, "RESET_GPU");
  EXPECT_FALSE(s_.reset_signalled());
  s_.OnRecoveryAction(RecoveryAction::kNone, t0_ + seconds(10));
  EXPECT_TRUE(s_.reset_signalled());
  // A dirty probe (DBE still counted) keeps the fault.
  ProbeResult dirty;
  dirty.volatile_uncorrected_ecc = 1;
  s_.OnProbe(dirty, true, t0_ + seconds(11));
  EXPECT_FALSE(s_.Verdict().ready);
  s_.OnRecoveryAction(RecoveryAction::kGpuReset, t0_ + seconds(12));
  s_.OnRecoveryAction(RecoveryAction::kNone, t0_ + seconds(13));
  EXPECT_TRUE(s_.OnProbe(ProbeResult{}, true, t0_ + seconds(14)));
  EXPECT_EQ(s_.Verdict(), HealthVerdict{});
}

// A reset ends what only a reset ends: pending remaps and retirements go with the fatal faults
// once the post-reset probe is clean (they asked for that reset).
TEST_F(HealthStateTest, CleanResetAlsoEndsPendingRemapAndRetirement) {
  ProbeResult pending;
  pending.row_remap_pending = true;
  pending.retired_pages_pending = true;
  s_.OnProbe(pending, false, t0_);
  ASSERT_EQ(s_.Verdict().recommended_action, "RESET_GPU");
  s_.OnRecoveryAction(RecoveryAction::kGpuReset, t0_ + seconds(1));
  s_.OnRecoveryAction(RecoveryAction::kNone, t0_ + seconds(2));
  ASSERT_TRUE(s_.reset_signalled());
  EXPECT_TRUE(s_.OnProbe(ProbeResult{}, true, t0_ + seconds(3)));
  EXPECT_EQ(s_.Verdict(), HealthVerdict{});
}

// The reset signal is spent by its probe: after an unclean one, a later clean probe (without a
// new action/NONE cycle) must not wipe a fatal fault that arrived in between.
TEST_F(HealthStateTest, UncleanResetProbeSpendsTheSignal) {
  s_.OnRecoveryAction(RecoveryAction::kGpuReset, t0_);
  s_.OnRecoveryAction(RecoveryAction::kNone, t0_ + seconds(1));
  ProbeResult dirty;
  dirty.volatile_uncorrected_ecc = 1;
  s_.OnProbe(dirty, true, t0_ + seconds(2));
  EXPECT_FALSE(s_.reset_signalled());
  s_.OnXid(95, policy_.Classify(95), t0_ + seconds(3));
  s_.OnRecoveryAction(RecoveryAction::kNone, t0_ + seconds(4));  // no action asked since: no reset
  EXPECT_FALSE(s_.reset_signalled());
  EXPECT_FALSE(s_.Verdict().ready);
}

TEST_F(HealthStateTest, WorstFaultWins) {
  s_.OnXid(8, policy_.Classify(8), t0_);    // warning, RESTART_APP
  s_.OnXid(95, policy_.Classify(95), t0_);  // fatal, RESET_GPU
  s_.OnXid(79, policy_.Classify(79), t0_);  // fatal, RESTART_BM
  auto v = s_.Verdict();
  EXPECT_FALSE(v.ready);
  EXPECT_EQ(v.reason, "GPULost");
  EXPECT_EQ(v.recommended_action, "RESTART_BM");
  EXPECT_EQ(v.message.find("Xid 79"), 0u) << v.message;
  EXPECT_NE(v.message.find("Xid 95"), std::string::npos);
}

TEST_F(HealthStateTest, GpuLostAndEcc) {
  s_.OnDoubleBitEcc(2, t0_);
  EXPECT_EQ(s_.Verdict().reason, "EccDoubleBitError");
  EXPECT_EQ(s_.Verdict().recommended_action, "RESET_GPU");
  s_.OnGpuLost("nvmlEventSetWait: GPU is lost", t0_);
  EXPECT_EQ(s_.Verdict().reason, "GPULost");
  EXPECT_EQ(s_.Verdict().recommended_action, "RESTART_BM");
}

TEST_F(HealthStateTest, StartupProbe) {
  ProbeResult p;
  p.row_remap_pending = true;
  EXPECT_TRUE(s_.OnProbe(p, false, t0_));
  EXPECT_TRUE(s_.Verdict().ready);
  EXPECT_EQ(s_.Verdict().reason, "RowRemapPending");
  EXPECT_EQ(s_.Verdict().recommended_action, "RESET_GPU");
  // Pending remaps wait for a reset; the quiet period does not clear them.
  EXPECT_FALSE(s_.ExpireWarnings(t0_ + std::chrono::hours(10), minutes(5)));
  p.row_remap_failure = true;
  p.recovery_action = RecoveryAction::kNodeReboot;
  s_.OnProbe(p, false, t0_);
  EXPECT_FALSE(s_.Verdict().ready);
  EXPECT_EQ(s_.Verdict().recommended_action, "RESTART_BM");
  EXPECT_EQ(s_.Verdict().reason, "RecoveryActionRequired");
}

TEST_F(HealthStateTest, RepeatedEventsCountWithoutChangingVerdictShape) {
  EXPECT_TRUE(s_.OnXid(95, policy_.Classify(95), t0_));
  EXPECT_FALSE(s_.OnXid(95, policy_.Classify(95), t0_));  // same message: nothing new to publish
  EXPECT_EQ(s_.faults().at("xid/95").count, 2u);
  EXPECT_NE(s_.Verdict().message.find("(x2)"), std::string::npos);
}

}  // namespace
}  // namespace deviceapi::nvml
