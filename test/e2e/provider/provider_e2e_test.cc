// End to end: the real device-api-server and nvml-provider binaries, the fake
// libnvidia-ml.so.1 loaded through --driver-root, faults injected through the
// fake's control socket, results read back through the client SDK.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "deviceapi/retry.h"
#include "harness.h"
#include "http_client.h"

namespace e2e {
namespace {

using deviceapi::FindCondition;
using deviceapi::testing::HttpGet;

struct Expect {
  int gpu;
  uint64_t xid;
  const char* status;
  const char* reason;
  const char* action;
  const char* catalog_class;
};

// One Xid per resolution bucket of the catalog, plus the Kubernetes default
// ignores, the unknown numbers and the decision on 109 (docs/provider.md).
const std::vector<Expect> kClasses = {
    {0, 14, "True", "Healthy", "", "IGNORE"},
    {1, 8, "True", "XidWarning", "RESTART_APP", "RESTART_APP"},
    {2, 45, "True", "Healthy", "", "WORKFLOW_XID_45 (default ignored)"},
    {3, 46, "False", "XidError", "RESET_GPU", "RESET_GPU"},
    {4, 48, "False", "XidError", "RESET_GPU", "WORKFLOW_XID_48"},
    {5, 54, "False", "XidError", "CHECK_MECHANICALS", "CHECK_MECHANICALS"},
    {6, 74, "False", "XidError", "RESET_GPU", "WORKFLOW_NVLINK_ERR"},
    {7, 78, "False", "XidError", "UPDATE_SWFW", "UPDATE_SWFW"},
    {8, 79, "False", "GPULost", "RESTART_BM", "RESTART_BM"},
    {9, 144, "False", "XidError", "RESET_GPU", "WORKFLOW_NVLINK5_ERR"},
    {10, 151, "False", "XidError", "RESTART_VM", "RESTART_VM"},
    {11, 154, "True", "Healthy", "", "XID_154 (recovery action NONE)"},
    {12, 159, "True", "XidWarning", "CHECK_UVM", "CHECK_UVM"},
    {13, 162, "False", "UnknownXid", "CONTACT_SUPPORT", "(no action in catalog)"},
    {14, 999, "False", "UnknownXid", "CONTACT_SUPPORT", "unknown Xid"},
    {15, 1, "False", "XidError", "CONTACT_SUPPORT", "CONTACT_SUPPORT"},
    {16, 95, "False", "XidError", "RESET_GPU", "RESET_GPU (95)"},
    {17, 13, "True", "Healthy", "", "RESTART_APP, Kubernetes default ignore"},
    {18, 109, "False", "XidError", "RESET_GPU", "RESET_GPU (109 not ignored)"},
    {19, 63, "True", "Healthy", "", "IGNORE (63)"},
};

// S20: names are the lower-case NVML UUID (a DNS-1123 subdomain), spec.uuid as NVML reports it.
// S21: the provider registers before it reads, so a server waiting for GPUs becomes ready.
TEST(ProviderE2E, RegistersEveryGpuWithDeviceInfo) {
  Env env("register");
  env.StartServer();
  env.StartProvider();
  auto gpus = env.Gpus();
  ASSERT_EQ(gpus.size(), 8u);
  std::set<std::string> uuids;
  for (auto& [i, g] : gpus) {
    std::string lower = g.spec().uuid();
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(g.metadata().name(), lower);
    EXPECT_EQ(g.metadata().labels().at("app.kubernetes.io/managed-by"), "nvml-provider");
    EXPECT_EQ(g.status().device_info().product_name(), "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(g.status().device_info().architecture(), "Hopper");
    EXPECT_EQ(g.status().device_info().memory_total_bytes(), 85520809984ULL);
    EXPECT_EQ(g.status().device_info().driver_version(), "550.127.08");
    EXPECT_FALSE(g.status().device_info().pci_bus_id().empty());
    EXPECT_EQ(g.status().device_info().minor_number(), i);
    auto* c = env.Ready(g);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->status(), "True");
    EXPECT_EQ(c->reason(), "Healthy");
    EXPECT_EQ(g.status().recommended_action(), "");
    uuids.insert(g.spec().uuid());
  }
  EXPECT_EQ(uuids.size(), 8u);
}

TEST(ProviderE2E, EveryCatalogClass) {
  Env env("classes");
  env.StartServer();
  env.StartProvider({}, {{"FAKE_NVML_GPUS", "20"}});
  ASSERT_EQ(env.Gpus().size(), 20u);
  for (auto& e : kClasses) env.InjectXid(e.gpu, e.xid);
  // Events are handled in order: once the last fatal one shows, all were seen.
  ASSERT_TRUE(env.WaitReady(18, "False")) << env.ProviderLog();
  for (auto& e : kClasses) {
    ASSERT_TRUE(env.WaitReady(e.gpu, e.status, e.reason)) << "xid " << e.xid << " " << e.catalog_class;
    auto g = *env.GpuAt(e.gpu);
    EXPECT_EQ(g.status().recommended_action(), e.action) << "xid " << e.xid << " " << e.catalog_class;
    if (std::string(e.reason) != "Healthy") {
      EXPECT_NE(env.Ready(g)->message().find("Xid " + std::to_string(e.xid)), std::string::npos)
          << env.Ready(g)->message();
    }
  }
  EXPECT_NE(env.Ready(*env.GpuAt(1))->message().find("warning only"), std::string::npos);
}

TEST(ProviderE2E, OperatorXidConfiguration) {
  Env env("xidcfg");
  env.StartServer();
  env.StartProvider({"--ignore-xids", "95", "--fatal-xids", "8"}, {{"DP_ENABLE_HEALTHCHECKS", "13"}});
  env.InjectXid(0, 95);  // ignored by flag
  env.InjectXid(1, 8);   // warning by catalog, fatal by flag
  env.InjectXid(2, 13);  // default-ignored, re-enabled the device plugin's way
  ASSERT_TRUE(env.WaitReady(2, "False", "XidError")) << env.ProviderLog();
  ASSERT_TRUE(env.WaitReady(1, "False", "XidError"));
  EXPECT_EQ(env.Ready(*env.GpuAt(0))->status(), "True");
}

TEST(ProviderE2E, EccDoubleBitAndSingleBit) {
  Env env("ecc");
  env.StartServer();
  env.StartProvider();
  ASSERT_EQ(env.Ctl(R"({"op":"ecc","gpu":4,"kind":"sbe"})"), "ok");
  ASSERT_EQ(env.Ctl(R"({"op":"ecc","gpu":3,"kind":"dbe"})"), "ok");
  ASSERT_TRUE(env.WaitReady(3, "False", "EccDoubleBitError")) << env.ProviderLog();
  EXPECT_EQ(env.GpuAt(3)->status().recommended_action(), "RESET_GPU");
  EXPECT_EQ(env.Ready(*env.GpuAt(4))->status(), "True");  // corrected errors do not make a GPU unhealthy
  // ECC is handled as ECC, never as an Xid.
  EXPECT_EQ(env.ProviderLog().find("xid=0"), std::string::npos);
}

// A driver answers GPU_IS_LOST to every wait on a set that holds a lost GPU (as the fake
// does): the provider must make the set again without it, so the other GPUs' faults are still
// seen, /healthz stays 200 because the new set answers, and the loss is logged once.
TEST(ProviderE2E, GpuLost) {
  Env env("lost");
  env.StartServer();
  env.StartProvider();
  ASSERT_EQ(env.Ctl(R"({"op":"lost","gpu":6})"), "ok");
  ASSERT_TRUE(env.WaitReady(6, "False", "GPULost")) << env.ProviderLog();
  EXPECT_EQ(env.GpuAt(6)->status().recommended_action(), "RESTART_BM");
  for (int i = 0; i < 8; ++i) {
    if (i != 6) {
      EXPECT_EQ(env.Ready(*env.GpuAt(i))->status(), "True") << i;
    }
  }
  env.InjectXid(2, 48);
  EXPECT_TRUE(env.WaitReady(2, "False", "XidError", 5s)) << env.ProviderLog();
  auto health = HttpGet("127.0.0.1", env.AdminPort(), "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
  const std::string log = env.ProviderLog();
  size_t lost_lines = 0;
  for (size_t p = log.find("gpu lost ("); p != std::string::npos; p = log.find("gpu lost (", p + 1)) ++lost_lines;
  EXPECT_EQ(lost_lines, 1u) << log;
}

// A GPU lost between enumeration and event registration (registration answers GPU_IS_LOST) is
// reported lost and left out of the event set, rather than counted as a GPU without Xid events,
// which would take every GPU's NVMLReady to Unknown.
TEST(ProviderE2E, GpuLostAtEventRegistration) {
  Env env("lostatregister");
  env.StartWithScenario(R"({"gpus":2,"fail":{"nvmlDeviceRegisterEvents":15}})");
  EXPECT_TRUE(env.WaitReady(0, "False", "GPULost")) << env.ProviderLog();
  EXPECT_TRUE(env.WaitReady(1, "False", "GPULost")) << env.ProviderLog();
  auto health = HttpGet("127.0.0.1", env.AdminPort(), "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
}

// A GPU lost while the provider was down has no readable UUID at its next start, so the
// provider cannot name it: its object must stay, marked lost, not be deleted as a GPU that
// left the node (which would erase the fault and its RESTART_BM).
TEST(ProviderE2E, GpuLostBeforeARestartIsMarkedNotDeleted) {
  Env env("lostrestart");
  env.StartServer();
  env.StartProvider();
  ASSERT_EQ(env.Ctl(R"({"op":"lost","gpu":6})"), "ok");
  ASSERT_TRUE(env.WaitReady(6, "False", "GPULost")) << env.ProviderLog();
  const std::string name = env.GpuAt(6)->metadata().name();
  env.provider()->Signal(SIGKILL);
  env.provider()->Wait(5s);
  auto sc = env.dir() / "scenario.json";
  std::ofstream(sc) << R"({"gpus":[{},{},{},{},{},{},{"lost":true},{}]})";
  env.StartProvider({}, {{"FAKE_NVML_SCENARIO", sc.string()}});
  const auto log_has = [&](const char* what) { return env.ProviderLog().find(what) != std::string::npos; };
  ASSERT_TRUE(WaitUntil([&] { return log_has("marked lost"); }, 10s)) << env.ProviderLog();
  std::this_thread::sleep_for(1500ms);  // another reconcile: still not deleted
  EXPECT_FALSE(log_has("no longer reports it")) << env.ProviderLog();
  ASSERT_EQ(env.Gpus().size(), 8u);
  auto gpu = env.GpuAt(6);
  ASSERT_TRUE(gpu);
  EXPECT_EQ(gpu->metadata().name(), name);
  EXPECT_EQ(env.Ready(*gpu)->status(), "False");
  EXPECT_EQ(env.Ready(*gpu)->reason(), "GPULost");
  EXPECT_EQ(gpu->status().recommended_action(), "RESTART_BM");
  for (int i = 0; i < 8; ++i) {
    if (i != 6) {
      EXPECT_TRUE(env.WaitReady(i, "True")) << i;
    }
  }
}

TEST(ProviderE2E, StartupProbeSeesFaultsFromBeforeRegistration) {
  Env env("startup");
  env.StartWithScenario(
      R"({"gpus":[{"volatile_dbe":1},{"remap_failure":true},{"recovery_action":2},{"remap_pending":true},{}]})");
  ASSERT_EQ(env.Gpus().size(), 5u);
  EXPECT_TRUE(env.WaitReady(0, "False", "EccDoubleBitError"));
  EXPECT_TRUE(env.WaitReady(1, "False", "RowRemapFailure"));
  EXPECT_TRUE(env.WaitReady(2, "False", "RecoveryActionRequired"));
  EXPECT_EQ(env.GpuAt(2)->status().recommended_action(), "RESTART_BM");
  EXPECT_TRUE(env.WaitReady(3, "True", "RowRemapPending"));
  EXPECT_EQ(env.GpuAt(3)->status().recommended_action(), "RESET_GPU");
  EXPECT_TRUE(env.WaitReady(4, "True", "Healthy"));
}

// NVML never replays events: an Xid while the startup probe runs must still be seen, so events
// are registered before the probe.
TEST(ProviderE2E, XidDuringTheStartupProbeIsSeen) {
  Env env("probexid");
  env.StartWithScenario(
      R"({"gpus":4,"xid_on_call":{"call":"nvmlDeviceGetRetiredPagesPendingStatus","gpu":1,"xid":48}})");
  EXPECT_TRUE(env.WaitReady(1, "False", "XidError")) << env.ProviderLog();
}

TEST(ProviderE2E, ResetClearsFatalFaults) {
  Env env("reset");
  env.StartServer();
  env.StartProvider();
  env.InjectXid(2, 95);
  ASSERT_TRUE(env.WaitReady(2, "False", "XidError"));
  ASSERT_EQ(env.Ctl(R"({"op":"recovery","gpu":2,"action":1})"), "ok");  // the driver asks for a reset
  ASSERT_TRUE(WaitUntil([&] { return env.GpuAt(2)->status().recommended_action() == "RESET_GPU"; }));
  ASSERT_EQ(env.Ctl(R"({"op":"reset","gpu":2})"), "ok");  // reset done: action NONE, clean probe
  ASSERT_TRUE(env.WaitReady(2, "True", "Healthy")) << env.ProviderLog();
  EXPECT_EQ(env.GpuAt(2)->status().recommended_action(), "");
}

// A driver without the recovery-action event says "reset done" only through Xid 154 (the
// recovery action field back to NONE): that path must run the same reset check.
TEST(ProviderE2E, ResetSignalledThroughXid154ClearsFatalFaults) {
  Env env("reset154");
  env.StartWithScenario(R"({"gpus":4,"supported_events":["xid","dbe","sbe","unavailable"]})");
  env.InjectXid(1, 119);
  ASSERT_TRUE(env.WaitReady(1, "False", "XidError"));
  ASSERT_EQ(env.Ctl(R"({"op":"recovery","gpu":1,"action":1})"), "ok");
  env.InjectXid(1, 154);  // the driver asks for a reset
  ASSERT_TRUE(WaitUntil([&] { return env.GpuAt(1)->status().recommended_action() == "RESET_GPU"; }));
  ASSERT_EQ(env.Ctl(R"({"op":"reset","gpu":1})"), "ok");
  env.InjectXid(1, 154);  // the field is NONE again
  ASSERT_TRUE(env.WaitReady(1, "True", "Healthy")) << env.ProviderLog();
  EXPECT_EQ(env.GpuAt(1)->status().recommended_action(), "");
}

// Xid 154 says the recovery action changed; when the field cannot be read, the change must not
// be dropped: it counts as the driver asking for a reset.
TEST(ProviderE2E, Xid154WithAnUnreadableRecoveryActionNeedsAReset) {
  Env env("unread154");
  env.StartWithScenario(
      R"({"gpus":2,"supported_events":["xid","dbe","sbe","unavailable"],"not_supported":["nvmlDeviceGetFieldValues"]})");
  env.InjectXid(1, 154);
  ASSERT_TRUE(env.WaitReady(1, "False", "RecoveryActionRequired")) << env.ProviderLog();
  EXPECT_EQ(env.GpuAt(1)->status().recommended_action(), "RESET_GPU");
  EXPECT_NE(env.Ready(*env.GpuAt(1))->message().find("Not Supported"), std::string::npos);
}

TEST(ProviderE2E, WarningsClearAfterQuietPeriod) {
  Env env("quiet");
  env.StartServer();
  env.StartProvider({"--warning-quiet-period", "1s"});
  env.InjectXid(5, 8);
  ASSERT_TRUE(env.WaitReady(5, "True", "XidWarning"));
  ASSERT_TRUE(env.WaitReady(5, "True", "Healthy", 5s));
  EXPECT_EQ(env.GpuAt(5)->status().recommended_action(), "");
}

// S5: every status write carries the resource_version read and retries on
// ABORTED, so concurrent writers never erase each other's conditions.
TEST(ProviderE2E, OtherProvidersConditionsSurvive) {
  Env env("others");
  env.StartServer();
  env.StartProvider();
  auto name = env.GpuAt(1)->metadata().name();
  // Another provider writes its own condition concurrently with our faults.
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread other([&] {
    deviceapi::ClientOptions o;
    o.target = env.client().target();
    deviceapi::Client c(o);
    int n = 0;
    while (!stop) {
      auto r = deviceapi::UpdateStatusWithRetry(c, name, [&](deviceapi::GpuStatus* st) {
        return deviceapi::SetCondition(st, deviceapi::MakeCondition("example.com/Thermal", n % 2 ? "True" : "False",
                                                                    "Probe", "round " + std::to_string(n)));
      });
      if (r.ok()) ++writes;
      ++n;
      // A writer that never pauses can starve any read-modify-write writer
      // of the same object (each of our attempts reads, and it writes in
      // between); a real provider polls. 2 ms still makes hundreds of
      // writes a second, all racing our faults.
      std::this_thread::sleep_for(2ms);
    }
  });
  for (uint64_t x : {8, 46, 48, 95, 79}) {
    env.InjectXid(1, x);
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(env.WaitReady(1, "False", "GPULost")) << env.ProviderLog();
  // A few more rounds after our faults landed (a slow build may not have
  // had many during them).
  const int at_fault = writes.load();
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       writes.load() < at_fault + 3 && std::chrono::steady_clock::now() < deadline;)
    std::this_thread::sleep_for(10ms);
  stop = true;
  other.join();
  EXPECT_GE(writes.load(), at_fault + 3);
  auto g = *env.GpuAt(1);
  ASSERT_NE(FindCondition(g.status(), "example.com/Thermal"), nullptr);
  // And our periodic reconcile (1s) does not erase it either.
  std::this_thread::sleep_for(1500ms);
  g = *env.GpuAt(1);
  EXPECT_NE(FindCondition(g.status(), "example.com/Thermal"), nullptr);
  EXPECT_EQ(env.Ready(g)->status(), "False");
}

// A GPU whose status write keeps failing (here another writer replaced its conditions with the
// 32 the server allows, so adding NVMLReady fails validation) must not hold back the faults of
// the GPUs after it.
TEST(ProviderE2E, AGpuThatCannotBeWrittenDoesNotHoldBackTheOthers) {
  Env env("blocked");
  env.StartServer();
  env.StartProvider();
  auto gpu0 = *env.GpuAt(0);
  gpu0.mutable_status()->clear_conditions();
  for (int i = 0; i < 32; ++i)
    deviceapi::SetCondition(gpu0.mutable_status(),
                            deviceapi::MakeCondition("example.com/Check" + std::to_string(i), "True", "Probe", ""));
  auto written = env.client().UpdateStatus(gpu0);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  ASSERT_TRUE(WaitUntil([&] { return env.ProviderLog().find("push gpu=" + gpu0.spec().uuid() + " failed") !=
                                     std::string::npos; }))
      << env.ProviderLog();
  env.InjectXid(2, 48);
  EXPECT_TRUE(env.WaitReady(2, "False", "XidError", 5s)) << env.ProviderLog();
  EXPECT_EQ(env.Ready(*env.GpuAt(0)), nullptr);  // still failing: it is not written
  // Retried with each full reconcile (every 1 s here), not in a loop.
  const auto failures = [&] {
    const std::string log = env.ProviderLog(), what = "push gpu=" + gpu0.spec().uuid() + " failed";
    size_t n = 0;
    for (size_t p = log.find(what); p != std::string::npos; p = log.find(what, p + 1)) ++n;
    return n;
  };
  const size_t before = failures();
  std::this_thread::sleep_for(2s);
  EXPECT_LE(failures() - before, 6u) << env.ProviderLog();
}

// S2/S18: a restarted in-memory server starts empty; the provider re-registers
// everything and pushes the state it kept while the server was down.
TEST(ProviderE2E, ServerRestartIsRefilledWithinOneInterval) {
  Env env("srvrestart");
  env.StartServer();
  env.StartProvider();
  env.InjectXid(7, 48);
  ASSERT_TRUE(env.WaitReady(7, "False"));
  env.KillServer();
  env.InjectXid(6, 95);  // happens while the server is down: kept and pushed later
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(env.provider()->running());  // never exits because the server is down
  env.StartServer();
  auto t0 = std::chrono::steady_clock::now();
  // Reconcile interval 1s, backoff capped at 300ms: back within one interval,
  // plus slack for a loaded (or sanitized) test machine.
  ASSERT_TRUE(WaitUntil([&] { return env.Gpus().size() == 8; }, 5s)) << env.ProviderLog();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(env.WaitReady(7, "False", "XidError"));
  EXPECT_TRUE(env.WaitReady(6, "False", "XidError"));
  EXPECT_TRUE(env.WaitReady(0, "True"));
}

TEST(ProviderE2E, ProviderKilledServerKeepsStateAndRestartKeepsFaults) {
  Env env("provkill");
  env.StartServer();
  env.StartProvider();
  env.InjectXid(3, 79);
  ASSERT_TRUE(env.WaitReady(3, "False", "GPULost"));
  env.provider()->Signal(SIGKILL);
  env.provider()->Wait(5s);
  std::this_thread::sleep_for(300ms);
  auto gpus = env.Gpus();
  ASSERT_EQ(gpus.size(), 8u);
  EXPECT_EQ(env.Ready(gpus[3])->status(), "False");
  // No reboot happened, so a new provider keeps the fault NVML will not replay.
  env.StartProvider();
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(env.WaitReady(3, "False", "GPULost"));
  EXPECT_EQ(env.GpuAt(3)->status().recommended_action(), "RESTART_BM");
  EXPECT_NE(env.Ready(*env.GpuAt(3))->message().find("reported before provider restart"), std::string::npos);
  EXPECT_EQ(env.Gpus().size(), 8u);
}

// S24, S25: with durable storage a fault NVML will never replay survives a
// server restart by itself: it is there before any provider writes again.
TEST(ProviderE2E, DurableServerRestartKeepsFaultsWithoutProviderS24S25) {
  Env env("durable");
  env.StartServer(/*durable=*/true);
  env.StartProvider();
  env.InjectXid(3, 79);
  ASSERT_TRUE(env.WaitReady(3, "False", "GPULost"));
  env.provider()->Signal(SIGKILL);  // nothing writes from here on
  env.provider()->Wait(5s);
  const auto before = env.Gpus();
  ASSERT_EQ(before.size(), 8u);
  env.KillServer();
  env.StartServer(/*durable=*/true);
  const auto after = env.Gpus();
  ASSERT_EQ(after.size(), 8u);
  EXPECT_EQ(env.Ready(after.at(3))->status(), "False");
  EXPECT_EQ(env.Ready(after.at(3))->reason(), "GPULost");
  EXPECT_EQ(after.at(3).status().recommended_action(), "RESTART_BM");
  for (const auto& [index, gpu] : before) {
    // Same objects at the same versions: nothing was re-created.
    EXPECT_EQ(after.at(index).metadata().uid(), gpu.metadata().uid());
    EXPECT_EQ(after.at(index).metadata().resource_version(), gpu.metadata().resource_version());
  }
}

// S5 (delete preconditions): pruning deletes with the uid it listed, and only labelled objects (S10 selector).
TEST(ProviderE2E, DeletesOnlyItsOwnVanishedGpus) {
  Env env("prune");
  env.StartServer();
  env.StartProvider();
  ASSERT_EQ(env.Gpus().size(), 8u);
  deviceapi::Gpu foreign;
  foreign.mutable_metadata()->set_name("gpu-00000000-0000-0000-0000-0000000000ff");
  foreign.mutable_spec()->set_uuid("GPU-00000000-0000-0000-0000-0000000000ff");
  ASSERT_TRUE(env.client().Create(foreign).ok());
  env.StopProvider();
  env.StartProvider({}, {{"FAKE_NVML_GPUS", "5"}});  // same machine seed: the first five UUIDs stay
  ASSERT_TRUE(WaitUntil([&] { return env.client().List()->items_size() == 6; }, 5s)) << env.ProviderLog();
  EXPECT_TRUE(env.client().Get("gpu-00000000-0000-0000-0000-0000000000ff").ok());
}

TEST(ProviderE2E, AdoptsExistingObjects) {
  Env env("adopt");
  env.StartServer();
  env.StartProvider();
  auto g = *env.GpuAt(0);
  env.StopProvider();
  // An object created by someone else before the provider starts.
  ASSERT_TRUE(env.client().Delete(g.metadata().name()).ok());
  deviceapi::Gpu pre;
  pre.mutable_metadata()->set_name(g.metadata().name());
  pre.mutable_spec()->set_uuid(g.spec().uuid());
  ASSERT_TRUE(env.client().Create(pre).ok());
  env.StartProvider();
  ASSERT_TRUE(env.WaitReady(0, "True", "Healthy"));
  EXPECT_NE(env.ProviderLog().find("adopted existing gpu=" + g.metadata().name()), std::string::npos);
}

TEST(ProviderE2E, AdminEndpoints) {
  Env env("admin");
  env.StartServer();
  env.StartProvider();
  env.InjectXid(0, 48);
  ASSERT_TRUE(env.WaitReady(0, "False"));
  const int admin = env.AdminPort();
  auto h = HttpGet("127.0.0.1", admin, "/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r = HttpGet("127.0.0.1", admin, "/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto m = HttpGet("127.0.0.1", admin, "/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("nvml_provider_events_total{type=\"xid\",xid=\"48\"} 1"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("nvml_provider_last_successful_sync_timestamp_seconds"), std::string::npos);
  EXPECT_NE(m->body.find("nvml_provider_nvml_errors_total"), std::string::npos);
}

TEST(ProviderE2E, NotReadyUntilServerReachable) {
  Env env("notready");
  env.StartProvider({}, {}, /*wait_synced=*/false);
  ASSERT_TRUE(WaitUntil([&] { return env.AdminPort() > 0; }));
  const int admin = env.AdminPort();
  auto r = HttpGet("127.0.0.1", admin, "/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  env.StartServer();
  ASSERT_TRUE(WaitUntil([&] { auto x = HttpGet("127.0.0.1", admin, "/readyz"); return x && x->status == 200; }, 5s))
      << env.ProviderLog();
  EXPECT_EQ(env.Gpus().size(), 8u);
}

TEST(ProviderE2E, NotSupportedCallsAreTolerated) {
  Env env("notsupp");
  env.StartWithScenario(R"({"gpus":3,"supported_events":["xid"],
      "not_supported":["nvmlDeviceGetSerial","nvmlDeviceGetFieldValues","nvmlDeviceGetRemappedRows",
                       "nvmlDeviceGetTotalEccErrors","nvmlDeviceGetArchitecture"]})");
  auto gpus = env.Gpus();
  ASSERT_EQ(gpus.size(), 3u);
  EXPECT_EQ(gpus[0].status().device_info().serial(), "");
  EXPECT_NE(env.ProviderLog().find("accepted=XidCriticalError"), std::string::npos);
  env.InjectXid(1, 95);
  EXPECT_TRUE(env.WaitReady(1, "False"));
}

TEST(ProviderE2E, MissingNvmlLibraryIsAClearErrorAndNonZeroExit) {
  if (void* h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(h);
    GTEST_SKIP() << "a real NVML is installed on this machine";
  }
  Env env("missing");
  std::vector<std::string> argv{kProviderBin, "--server", "unix:///nonexistent.sock", "--driver-root",
                                (env.dir() / "empty-root").string(), "--admin-address", ""};
  Process p(argv, {}, (env.dir() / "p.log").string());
  auto rc = p.Wait(10s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 1);
  EXPECT_NE(p.Log().find("libnvidia-ml.so.1 not found"), std::string::npos) << p.Log();
  EXPECT_NE(p.Log().find("empty-root/usr/lib64/libnvidia-ml.so.1"), std::string::npos) << p.Log();
}

TEST(ProviderE2E, MalformedScenarioIsAClearErrorAndNonZeroExit) {
  Env env("badscenario");
  auto sc = env.dir() / "scenario.json";
  std::ofstream(sc) << R"({"gpus": [ {"name": 42 ])";
  std::vector<std::string> argv{kProviderBin, "--server", "unix:///nonexistent.sock", "--driver-root", kFakeRoot,
                                "--admin-address", ""};
  Process p(argv, {{"FAKE_NVML_SCENARIO", sc.string()}}, (env.dir() / "p.log").string());
  auto rc = p.Wait(10s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 1);
  EXPECT_NE(p.Log().find("nvmlInit_v2 failed"), std::string::npos) << p.Log();
  EXPECT_NE(p.Log().find("scenario"), std::string::npos) << p.Log();
}

TEST(ProviderE2E, BadFlagsExitWithUsageError) {
  Env env("flags");
  Process p({kProviderBin, "--reconcile-interval", "often"}, {}, (env.dir() / "p.log").string());
  auto rc = p.Wait(10s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 2);
  EXPECT_NE(p.Log().find("--reconcile-interval"), std::string::npos);
}

TEST(ProviderE2E, StopsPromptlyOnSigterm) {
  Env env("sigterm");
  env.StartServer();
  env.StartProvider();
  auto t0 = std::chrono::steady_clock::now();
  env.provider()->Signal(SIGTERM);
  auto rc = env.provider()->Wait(5s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

}  // namespace
}  // namespace e2e
