// How long the provider takes to stop when the server does not answer.
#include <gtest/gtest.h>

#include "harness.h"

namespace e2e {
namespace {

// SIGTERM while a status write waits on a server that does not answer (stopped): the write is
// cancelled rather than waited out to --rpc-timeout, and nothing more is sent.
TEST(ShutdownE2E, StopsPromptlyWhileTheServerDoesNotAnswer) {
  Env env("stopstuck");
  env.StartServer();
  env.StartProvider({"--lease-duration", "0", "--rpc-timeout", "5s"}, {{"FAKE_NVML_GPUS", "4"}});
  ASSERT_TRUE(env.WaitReady(0, "True"));
  env.server()->Signal(SIGSTOP);
  env.InjectXid(0, 48);
  env.InjectXid(1, 48);
  std::this_thread::sleep_for(500ms);  // the write of GPU 0 is in flight
  const auto t0 = std::chrono::steady_clock::now();
  env.provider()->Signal(SIGTERM);
  auto rc = env.provider()->Wait(10s);
  const auto took = std::chrono::steady_clock::now() - t0;
  env.server()->Signal(SIGCONT);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0);
  EXPECT_LT(took, 2s) << env.ProviderLog();  // as StopsPromptlyOnSigterm allows; --rpc-timeout is 5 s
}

}  // namespace
}  // namespace e2e
