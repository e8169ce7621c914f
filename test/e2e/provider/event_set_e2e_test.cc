// The event set made again after a GPU is lost, with the real binaries.
#include <gtest/gtest.h>

#include "harness.h"

namespace e2e {
namespace {

// The GPUs left are probed when the set is made again; a fault such a probe finds again is
// not a new occurrence: the message does not start counting it.
TEST(EventSetE2E, ProbeAfterALossDoesNotRecountStandingFaults) {
  Env env("rewatch");
  env.StartWithScenario(R"({"gpus":[{},{},{"remap_pending":true},{}]})");
  ASSERT_TRUE(env.WaitReady(2, "True", "RowRemapPending")) << env.ProviderLog();
  ASSERT_EQ(env.Ctl(R"({"op":"lost","gpu":3})"), "ok");
  ASSERT_TRUE(env.WaitReady(3, "False", "GPULost")) << env.ProviderLog();
  std::this_thread::sleep_for(1500ms);  // a full reconcile re-checks every status
  const std::string message = env.Ready(*env.GpuAt(2))->message();
  EXPECT_EQ(message.find("(x2)"), std::string::npos) << message;
}

}  // namespace
}  // namespace e2e
