#include "nvml/gpu_object.h"

#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "deviceapi/conditions.h"

namespace deviceapi::nvml {
namespace {

GpuInfo Info() {
  GpuInfo g;
  g.uuid = "GPU-ABCDEF01-2345-6789-ABCD-EF0123456789";
  g.name = "NVIDIA H100 80GB HBM3";
  g.index = 3;
  g.memory_total_bytes = 85520809984ULL;
  return g;
}

HealthVerdict Bad(const char* action) {
  HealthVerdict v;
  v.ready = false;
  v.reason = "XidError";
  v.message = "Xid 95";
  v.recommended_action = action;
  return v;
}

TEST(GpuObject, NameIsLowerCaseUuidAndLabelled) {
  Gpu g = NewGpuObject(Info(), "default", "nvml-provider");
  EXPECT_EQ(g.metadata().name(), "gpu-abcdef01-2345-6789-abcd-ef0123456789");
  EXPECT_EQ(g.spec().uuid(), "GPU-ABCDEF01-2345-6789-ABCD-EF0123456789");
  EXPECT_EQ(g.metadata().labels().at(kManagedByLabel), "nvml-provider");
}

TEST(GpuObject, ApplyHealthKeepsOtherConditions) {
  GpuStatus st;
  SetCondition(&st, MakeCondition("example.com/Thermal", "False", "TooHot", "85C"));
  EXPECT_TRUE(ApplyHealth(&st, HealthVerdict{}, ToDeviceInfo(Info())));
  ASSERT_EQ(st.conditions_size(), 2);
  EXPECT_TRUE(IsConditionTrue(st, kReadyCondition));
  EXPECT_EQ(st.device_info().index(), 3);
  EXPECT_FALSE(ApplyHealth(&st, HealthVerdict{}, ToDeviceInfo(Info())));  // idempotent: no write needed
  EXPECT_TRUE(ApplyHealth(&st, Bad("RESET_GPU"), ToDeviceInfo(Info())));
  EXPECT_EQ(st.conditions_size(), 2);
  EXPECT_EQ(FindCondition(st, "example.com/Thermal")->reason(), "TooHot");
  EXPECT_EQ(st.recommended_action(), "RESET_GPU");
  EXPECT_EQ(OwnRecordedAction(st), "RESET_GPU");
}

TEST(GpuObject, RecommendedActionIsSharedCarefully) {
  GpuStatus st;
  st.set_recommended_action("RESTART_BM");  // another provider's, more severe
  ApplyHealth(&st, Bad("RESET_GPU"), {});
  EXPECT_EQ(st.recommended_action(), "RESTART_BM");
  ApplyHealth(&st, HealthVerdict{}, {});
  EXPECT_EQ(st.recommended_action(), "RESTART_BM");  // not ours to clear

  GpuStatus mine;
  ApplyHealth(&mine, Bad("RESET_GPU"), {});
  EXPECT_EQ(mine.recommended_action(), "RESET_GPU");
  ApplyHealth(&mine, HealthVerdict{}, {});
  EXPECT_EQ(mine.recommended_action(), "");  // ours: cleared when healthy

  GpuStatus weaker;
  weaker.set_recommended_action("RESTART_APP");
  ApplyHealth(&weaker, Bad("RESET_GPU"), {});
  EXPECT_EQ(weaker.recommended_action(), "RESET_GPU");
}

TEST(GpuObject, CarriedOverFaultOnlyWithoutReboot) {
  GpuStatus st;
  auto now = std::chrono::system_clock::now();
  ApplyHealth(&st, Bad("RESTART_BM"), {}, now);
  auto f = CarriedOverFault(st, now - std::chrono::hours(1));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, Severity::kFatal);
  EXPECT_EQ(f->action, "RESTART_BM");
  EXPECT_EQ(f->reason, "XidError");
  EXPECT_EQ(f->message.find("reported before provider restart: Xid 95"), 0u) << f->message;
  EXPECT_FALSE(CarriedOverFault(st, now + std::chrono::hours(1)));  // rebooted since
  GpuStatus healthy;
  ApplyHealth(&healthy, HealthVerdict{}, {}, now);
  EXPECT_FALSE(CarriedOverFault(healthy, {}));
}

// S28 and NVML's lack of replay: the server's lease expiry rewrites NVMLReady to Unknown and
// keeps what it was at the end of its message; a provider that restarts after that still
// carries its fault (and still knows which recommended action is its own).
GpuStatus ExpiredByServer(const std::string& before) {
  GpuStatus st;
  SetCondition(&st, MakeCondition(kReadyCondition, "Unknown", "ProviderLeaseExpired",
                                  "lease default/nvml-provider held by \"node-1\" expired; last renewed "
                                  "2026-12-04T05:00:00Z; before: " + before));
  return st;
}

TEST(GpuObject, FaultCarriedOverAfterTheLeaseExpiredS28) {
  auto since = std::chrono::system_clock::now() - std::chrono::minutes(5);
  const std::string t = google::protobuf::util::TimeUtil::ToString(
      google::protobuf::util::TimeUtil::TimeTToTimestamp(std::chrono::system_clock::to_time_t(since)));
  GpuStatus st = ExpiredByServer("False XidError since " + t +
                                 ": Xid 119 (GSP RPC timeout) [recommended action: RESET_GPU]");
  st.set_recommended_action("RESET_GPU");
  auto f = CarriedOverFault(st, since - std::chrono::hours(1));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reason, "XidError");
  EXPECT_EQ(f->action, "RESET_GPU");
  EXPECT_EQ(f->message, "reported before provider restart: Xid 119 (GSP RPC timeout)");
  EXPECT_FALSE(CarriedOverFault(st, since + std::chrono::minutes(1))) << "rebooted since the fault";
  EXPECT_EQ(OwnRecordedAction(st), "RESET_GPU");

  // A warning (True, with an action) is not carried over, but its action is still ours to clear.
  GpuStatus warned = ExpiredByServer("True XidWarning since " + t +
                                     ": Xid 8 [recommended action: RESTART_APP]");
  warned.set_recommended_action("RESTART_APP");
  EXPECT_FALSE(CarriedOverFault(warned, {}));
  EXPECT_TRUE(ApplyHealth(&warned, HealthVerdict{}, {}));
  EXPECT_EQ(warned.recommended_action(), "");
  EXPECT_TRUE(IsConditionTrue(warned, kReadyCondition));

  // Never rewritten by this provider's protocol: an expiry message without the previous state,
  // or someone else's Unknown, carries nothing.
  GpuStatus old_server;
  SetCondition(&old_server, MakeCondition(kReadyCondition, "Unknown", "ProviderLeaseExpired",
                                          "lease default/x held by \"h\" expired; last renewed T"));
  EXPECT_FALSE(CarriedOverFault(old_server, {}));
  GpuStatus other = ExpiredByServer("False XidError since " + t + ": Xid 79");
  FindCondition(&other, kReadyCondition)->set_reason("SomethingElse");
  EXPECT_FALSE(CarriedOverFault(other, {}));
}

// S28: while faults go unseen a healthy GPU is published Unknown, never True; a known fault
// stays False with its action.
TEST(GpuObject, UnwatchedHealthyIsUnknownAndFaultStaysFalseS28) {
  GpuStatus st;
  EXPECT_TRUE(ApplyHealth(&st, Unwatched(HealthVerdict{}, "NVML event wait failing for 3s"), ToDeviceInfo(Info())));
  const Condition* c = FindCondition(st, kReadyCondition);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status(), kConditionUnknown);
  EXPECT_EQ(c->reason(), "NotWatched");
  EXPECT_NE(c->message().find("NVML event wait failing for 3s"), std::string::npos) << c->message();
  ApplyHealth(&st, Unwatched(Bad("RESET_GPU"), "NVML unreadable"), ToDeviceInfo(Info()));
  EXPECT_EQ(FindCondition(st, kReadyCondition)->status(), kConditionFalse);
  EXPECT_EQ(st.recommended_action(), "RESET_GPU");
}

}  // namespace
}  // namespace deviceapi::nvml
