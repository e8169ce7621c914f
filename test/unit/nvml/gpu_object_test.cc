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

}  // namespace
}  // namespace deviceapi::nvml
