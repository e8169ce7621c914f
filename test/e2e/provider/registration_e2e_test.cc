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

bool AllTrue(Env& env, size_t count) {
  auto gpus = env.Gpus();
  if (gpus.size() != count) return false;
  for (auto& [i, g] : gpus) {
    auto* c = env.Ready(g);
    if (c == nullptr || c->status() != "True") return false;
  }
  return true;
}

// A UUID read that fails for a while with an error other than GPU_IS_LOST says nothing about
// the GPU being lost: the provider enumerates again and marks nothing lost.
TEST(RegistrationE2E, PassingUuidErrorMarksNothingLost) {
  Env env("uuidflake");
  env.StartServer();
  env.StartProvider();
  ASSERT_TRUE(WaitUntil([&] { return AllTrue(env, 8); })) << env.ProviderLog();
  env.provider()->Signal(SIGKILL);
  env.provider()->Wait(5s);
  auto list = env.client().List();
  ASSERT_TRUE(list.ok());
  deviceapi::WatchOptions o;
  o.resource_version = list->metadata().resource_version();
  o.timeout_seconds = 8;
  auto watch = env.client().Watch(o);
  auto sc = env.dir() / "scenario.json";
  std::ofstream(sc) << R"({"fail":{"nvmlDeviceGetUUID":999}})";
  env.StartProvider({}, {{"FAKE_NVML_SCENARIO", sc.string()}}, /*wait_synced=*/false);
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(WaitUntil([&] {
    return env.Ctl(R"({"op":"fail","call":"nvmlDeviceGetUUID","code":999,"on":false})") == "ok";
  })) << env.ProviderLog();
  EXPECT_TRUE(WaitUntil([&] { return AllTrue(env, 8); }, 15s)) << env.ProviderLog();
  deviceapi::WatchEvent event;
  while (watch->Next(&event)) {
    const auto* ready = deviceapi::FindCondition(event.object.status(), "NVMLReady");
    ASSERT_NE(ready, nullptr);
    EXPECT_NE(ready->status(), "False") << ready->reason() << " " << ready->message();
  }
  EXPECT_TRUE(AllTrue(env, 8)) << env.ProviderLog();
}

// NVML cannot read the UUIDs for longer than the provider enumerates again at start: it goes
// on without those GPUs, their objects turn Unknown (not lost), and once NVML answers it
// enumerates again at a reconcile, watches and publishes them.
TEST(RegistrationE2E, GpusIdentifiedAfterStartAreWatchedAndPublished) {
  Env env("uuidlate");
  env.StartServer();
  env.StartProvider({}, {{"FAKE_NVML_GPUS", "2"}});
  ASSERT_TRUE(WaitUntil([&] { return AllTrue(env, 2); })) << env.ProviderLog();
  env.provider()->Signal(SIGKILL);
  env.provider()->Wait(5s);
  auto sc = env.dir() / "scenario.json";
  std::ofstream(sc) << R"({"gpus":2,"fail":{"nvmlDeviceGetUUID":999}})";
  env.StartProvider({}, {{"FAKE_NVML_SCENARIO", sc.string()}});  // returns after the first sync
  EXPECT_TRUE(env.WaitReady(0, "Unknown", "NotWatched")) << env.ProviderLog();
  EXPECT_TRUE(env.WaitReady(1, "Unknown", "NotWatched")) << env.ProviderLog();
  ASSERT_EQ(env.Ctl(R"({"op":"fail","call":"nvmlDeviceGetUUID","code":999,"on":false})"), "ok");
  EXPECT_TRUE(WaitUntil([&] { return AllTrue(env, 2); }, 5s)) << env.ProviderLog();
  env.InjectXid(1, 48);
  EXPECT_TRUE(env.WaitReady(1, "False", "XidError")) << env.ProviderLog();
}

// An earlier run that could not tell which GPU was lost marked every object it could not match
// lost. A later run that identifies the GPU and probes it clean drops that guess rather than
// carry it over until a reset that a healthy GPU never gets.
TEST(RegistrationE2E, IdentifiedCleanGpuDropsAnEarlierCannotIdentifyMark) {
  Env env("cannotidentify");
  env.StartServer();
  env.StartProvider();
  ASSERT_TRUE(WaitUntil([&] { return AllTrue(env, 8); })) << env.ProviderLog();
  env.provider()->Signal(SIGKILL);
  env.provider()->Wait(5s);
  auto gpu = *env.GpuAt(1);
  deviceapi::SetCondition(gpu.mutable_status(),
                          deviceapi::MakeCondition("NVMLReady", "False", "GPULost",
                                                   "GPU is lost: NVML lists a GPU it cannot identify (GPU 6: "
                                                   "nvmlDeviceGetUUID: GPU is lost; skipped) [recommended action: "
                                                   "RESTART_BM]"));
  gpu.mutable_status()->set_recommended_action("RESTART_BM");
  ASSERT_TRUE(env.client().UpdateStatus(gpu).ok());
  env.StartProvider();
  EXPECT_TRUE(env.WaitReady(1, "True", "Healthy")) << env.ProviderLog();
  EXPECT_EQ(env.GpuAt(1)->status().recommended_action(), "");
}

size_t Count(const std::string& log, const std::string& what) {
  size_t n = 0;
  for (size_t p = log.find(what); p != std::string::npos; p = log.find(what, p + 1)) ++n;
  return n;
}

// Status writes the server keeps refusing (here: another writer filled four GPUs with the 32
// conditions the server allows, so adding NVMLReady fails validation) are retried at every
// reconcile but logged once, in one line for all the GPUs refused alike, not once per GPU per
// reconcile.
TEST(RegistrationE2E, RepeatedRefusalsAreLoggedOnce) {
  Env env("refusedlog");
  env.StartServer();
  env.StartProvider({"--lease-duration", "0"});
  for (int index = 0; index < 4; ++index) {
    auto gpu = *env.GpuAt(index);
    gpu.mutable_status()->clear_conditions();
    for (int i = 0; i < 32; ++i)
      deviceapi::SetCondition(gpu.mutable_status(),
                              deviceapi::MakeCondition("example.com/Check" + std::to_string(i), "True", "Probe", ""));
    ASSERT_TRUE(env.client().UpdateStatus(gpu).ok());
  }
  ASSERT_TRUE(WaitUntil([&] { return Count(env.ProviderLog(), "must have at most 32 items") > 0; })) << env.ProviderLog();
  std::this_thread::sleep_for(3s);  // three more reconciles
  EXPECT_LE(Count(env.ProviderLog(), "must have at most 32 items"), 4u) << env.ProviderLog();
}

}  // namespace
}  // namespace e2e
