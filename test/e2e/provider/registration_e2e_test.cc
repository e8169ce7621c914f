// What the provider does when the server refuses some GPUs' objects, or NVML cannot name some
// GPUs for a while: the GPUs it can publish are published, and nothing is marked lost on a
// guess.
#include <gtest/gtest.h>

#include "harness.h"
#include "http_client.h"

namespace e2e {
namespace {

using deviceapi::testing::HttpGet;

// A server that refuses to create some GPUs (here its object limit) must not stop the provider
// publishing the ones it did create: their NVMLReady is written and their faults go out, and
// /readyz names the GPUs that are missing and the server's answer.
TEST(RegistrationE2E, GpusTheServerRefusesDoNotHoldBackTheOthers) {
  Env env("refused");
  env.StartServer(false, {"--max-objects", "2"});
  env.StartProvider({"--lease-duration", "0"}, {{"FAKE_NVML_GPUS", "4"}});
  ASSERT_TRUE(env.WaitReady(0, "True")) << env.ProviderLog();
  ASSERT_TRUE(env.WaitReady(1, "True")) << env.ProviderLog();
  env.InjectXid(0, 48);
  EXPECT_TRUE(env.WaitReady(0, "False", "XidError")) << env.ProviderLog();
  EXPECT_EQ(env.Gpus().size(), 2u);
  auto ready = HttpGet("127.0.0.1", env.AdminPort(), "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503) << ready->body;
  EXPECT_NE(ready->body.find("2 of 4 GPUs not registered"), std::string::npos) << ready->body;
  EXPECT_NE(ready->body.find("RESOURCE_EXHAUSTED"), std::string::npos) << ready->body;
  // Retried at each full reconcile (every 1 s here), logged once per GPU.
  std::this_thread::sleep_for(2500ms);
  const std::string log = env.ProviderLog(), line = "refused: RESOURCE_EXHAUSTED";
  size_t lines = 0;
  for (size_t p = log.find(line); p != std::string::npos; p = log.find(line, p + 1)) ++lines;
  EXPECT_EQ(lines, 2u) << log;
}

}  // namespace
}  // namespace e2e
