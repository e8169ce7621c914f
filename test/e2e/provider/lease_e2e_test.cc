// The provider lease with the real binaries (S28, S29): a stopped or killed
// nvml-provider's NVMLReady turns Unknown on every GPU within the lease
// duration + 1 s, seen by a watching consumer, while another provider's
// condition stays; resuming or restarting the provider brings True back
// through renewal.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "deviceapi/lease.h"
#include "harness.h"
#include "http_client.h"

namespace e2e {
namespace {

// Short leases keep the test fast: 2 s duration, renewed every 400 ms.
const std::vector<std::string> kLeaseFlags = {"--lease-duration", "2s", "--lease-renew-period",
                                              "400ms"};
constexpr auto kLeaseDuration = 2s;

// Another provider's condition on every GPU, written by a server-side patch.
void AddOtherCondition(Env& env) {
  for (auto& [i, g] : env.Gpus()) {
    auto r = env.client().PatchStatus(
        g.metadata().name(), deviceapi::PatchType::kStrategicMerge,
        R"({"status":{"conditions":[{"type":"DCGMHealthy","status":"True","reason":"Healthy"}]}})");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
}

// Reads `watch` until every one of `count` GPUs has NVMLReady Unknown with
// reason ProviderLeaseExpired; checks DCGMHealthy stays True on the way.
void ExpectAllUnknown(deviceapi::WatchStream& watch, size_t count) {
  std::set<std::string> unknown;
  deviceapi::WatchEvent event;
  while (unknown.size() < count && watch.Next(&event)) {
    if (event.type != deviceapi::EventType::kModified) continue;
    const auto* ready = deviceapi::FindCondition(event.object.status(), "NVMLReady");
    ASSERT_NE(ready, nullptr);
    if (ready->status() != "Unknown") continue;
    EXPECT_EQ(ready->reason(), "ProviderLeaseExpired");
    EXPECT_NE(ready->message().find("nvml-provider"), std::string::npos) << ready->message();
    const auto* other = deviceapi::FindCondition(event.object.status(), "DCGMHealthy");
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(other->status(), "True");
    unknown.insert(event.object.metadata().name());
  }
  EXPECT_EQ(unknown.size(), count);
}

std::unique_ptr<deviceapi::WatchStream> WatchFromNow(Env& env, std::chrono::seconds timeout = 20s) {
  auto list = env.client().List();
  EXPECT_TRUE(list.ok());
  deviceapi::WatchOptions o;
  o.resource_version = list->metadata().resource_version();
  o.timeout_seconds = timeout.count();
  return env.client().Watch(o);
}

bool AllReadyOf(Env& env, size_t count, const std::string& status) {
  auto gpus = env.Gpus();
  if (gpus.size() != count) return false;
  for (auto& [i, g] : gpus) {
    auto* c = env.Ready(g);
    if (c == nullptr || c->status() != status) return false;
  }
  return true;
}

bool AllReady(Env& env, const std::string& status) { return AllReadyOf(env, 8, status); }

TEST(LeaseE2E, StoppedProviderTurnsUnknownAndResumesS28) {
  Env env("leasestop");
  env.StartServer();
  env.StartProvider(kLeaseFlags);
  ASSERT_TRUE(WaitUntil([&] { return AllReady(env, "True"); }));
  AddOtherCondition(env);
  auto watch = WatchFromNow(env);
  const auto stopped = std::chrono::steady_clock::now();
  env.provider()->Signal(SIGSTOP);
  ExpectAllUnknown(*watch, 8);
  const auto to_unknown = std::chrono::steady_clock::now() - stopped;
  std::printf("SIGSTOP to NVMLReady Unknown on 8 GPUs: %lld ms (lease 2 s, renewed every 400 ms)\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(to_unknown).count()));
  EXPECT_LT(to_unknown, kLeaseDuration + 1s);
  // S29: nobody can write True on the stopped provider's behalf.
  deviceapi::LeaseClient leases(env.client());
  auto lease = leases.Get("nvml-provider");
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(lease->spec().condition_types(0), "NVMLReady");
  auto gpu = env.GpuAt(0);
  auto r = env.client().PatchStatus(
      gpu->metadata().name(), deviceapi::PatchType::kStrategicMerge,
      R"({"status":{"conditions":[{"type":"NVMLReady","status":"True"}]}})");
  EXPECT_EQ(r.status().code(), grpc::StatusCode::FAILED_PRECONDITION) << r.status().ToString();
  // Resumed, the provider renews and writes True again.
  const auto resumed = std::chrono::steady_clock::now();
  env.provider()->Signal(SIGCONT);
  EXPECT_TRUE(WaitUntil([&] { return AllReady(env, "True"); }, 5s)) << env.ProviderLog();
  std::printf("SIGCONT to NVMLReady True again on 8 GPUs: %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - resumed)
                                         .count()));
}

TEST(LeaseE2E, KilledProviderTurnsUnknownAndRestartRenewsS28) {
  Env env("leasekill");
  env.StartServer();
  env.StartProvider(kLeaseFlags);
  ASSERT_TRUE(WaitUntil([&] { return AllReady(env, "True"); }));
  AddOtherCondition(env);
  auto watch = WatchFromNow(env);
  const auto killed = std::chrono::steady_clock::now();
  env.provider()->Signal(SIGKILL);
  env.provider()->Wait(5s);
  ExpectAllUnknown(*watch, 8);
  std::printf("SIGKILL to NVMLReady Unknown on 8 GPUs: %lld ms (lease 2 s)\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - killed)
                                         .count()));
  EXPECT_LT(std::chrono::steady_clock::now() - killed, kLeaseDuration + 1s);
  env.StartProvider(kLeaseFlags);
  EXPECT_TRUE(WaitUntil([&] { return AllReady(env, "True"); }, 5s)) << env.ProviderLog();
}

// S28 without forgetting a fault: stopping the provider turns NVMLReady Unknown at once (its
// lease is released), which rewrites the condition that held the fault. NVML never replays
// the Xid, so a provider started after the expiry must find the fault in what the expiry's
// message says the condition was, and keep the GPU False; a warning's action, also its own,
// is cleared when it writes the GPU healthy.
TEST(LeaseE2E, FaultSurvivesAProviderAwayLongerThanItsLeaseS28) {
  Env env("leasefault");
  env.StartServer();
  env.StartProvider(kLeaseFlags);
  ASSERT_TRUE(WaitUntil([&] { return AllReady(env, "True"); }));
  env.InjectXid(2, 119);
  env.InjectXid(5, 8);
  ASSERT_TRUE(env.WaitReady(2, "False", "XidError"));
  ASSERT_TRUE(env.WaitReady(5, "True", "XidWarning"));
  ASSERT_EQ(env.GpuAt(5)->status().recommended_action(), "RESTART_APP");
  env.provider()->Signal(SIGTERM);
  env.provider()->Wait(10s);
  ASSERT_TRUE(env.WaitReady(2, "Unknown", "ProviderLeaseExpired", kLeaseDuration + 3s));
  const std::string expired = env.Ready(*env.GpuAt(2))->message();
  EXPECT_NE(expired.find("; before: False XidError since "), std::string::npos) << expired;
  std::this_thread::sleep_for(kLeaseDuration);  // well past the lease, as after a long outage
  env.StartProvider(kLeaseFlags);
  ASSERT_TRUE(env.WaitReady(2, "False", "XidError")) << env.ProviderLog();
  EXPECT_EQ(env.GpuAt(2)->status().recommended_action(), "RESET_GPU");
  EXPECT_NE(env.Ready(*env.GpuAt(2))->message().find("reported before provider restart"), std::string::npos);
  ASSERT_TRUE(env.WaitReady(5, "True", "Healthy")) << env.ProviderLog();
  EXPECT_TRUE(WaitUntil([&] { return env.GpuAt(5)->status().recommended_action().empty(); }))
      << "the warning's action was this provider's own";
}

// S28: a provider whose NVML event wait keeps failing no longer sees faults, so it must not
// keep vouching for its GPUs: it stops renewing, and they turn Unknown; /healthz says why.
// When the wait answers again, the lease is renewed and NVMLReady is True again.
TEST(LeaseE2E, FailingEventWaitStopsRenewalS28) {
  Env env("leasewait");
  env.StartServer();
  env.StartProvider(kLeaseFlags);
  ASSERT_TRUE(WaitUntil([&] { return AllReady(env, "True"); }));
  ASSERT_EQ(env.Ctl(R"({"op":"unsupported","call":"nvmlEventSetWait_v2"})"), "ok");
  EXPECT_TRUE(WaitUntil([&] { return AllReady(env, "Unknown"); }, 3 * kLeaseDuration)) << env.ProviderLog();
  EXPECT_NE(env.ProviderLog().find("NVML event wait failing"), std::string::npos);
  // Every failed wait is counted; the failure is logged once, when it starts, and so is the
  // renewal skipped for it (not once per renew period).
  std::this_thread::sleep_for(kLeaseDuration);
  const std::string log = env.ProviderLog(), line = "events: nvmlEventSetWait: Not Supported";
  EXPECT_EQ(log.find(line, log.find(line) + 1), std::string::npos) << log;
  const std::string skipped = "not renewing lease";
  ASSERT_NE(log.find(skipped), std::string::npos) << log;
  EXPECT_EQ(log.find(skipped, log.find(skipped) + 1), std::string::npos) << log;
  auto metrics = deviceapi::testing::HttpGet("127.0.0.1", env.AdminPort(), "/metrics");
  ASSERT_TRUE(metrics);
  const std::string counter = "nvml_provider_nvml_errors_total{call=\"event_wait\"} ";
  const auto at = metrics->body.find(counter);
  ASSERT_NE(at, std::string::npos) << metrics->body;
  EXPECT_GT(std::stod(metrics->body.substr(at + counter.size())), 10.0) << metrics->body;
  ASSERT_EQ(env.Ctl(R"({"op":"unsupported","call":"nvmlEventSetWait_v2","on":false})"), "ok");
  EXPECT_TRUE(WaitUntil([&] { return AllReady(env, "True"); }, 3 * kLeaseDuration)) << env.ProviderLog();
}

// S28, S29 across a restart of a stateless server while the event wait fails: the server comes
// back with no GPUs and no lease. The provider, which cannot see faults, must neither write its
// last verdict (True) into the objects it creates again nor leave the server without a lease
// that could refuse True: the GPUs stay Unknown, saying why, and the lease is there again.
TEST(LeaseE2E, ServerRestartWhileFaultsGoUnseenKeepsGpusUnknownS28S29) {
  Env env("leaseblindrestart");
  env.StartServer();
  env.StartProvider(kLeaseFlags, {{"FAKE_NVML_GPUS", "2"}});
  ASSERT_TRUE(WaitUntil([&] { return AllReadyOf(env, 2, "True"); }));
  ASSERT_EQ(env.Ctl(R"({"op":"unsupported","call":"nvmlEventSetWait_v2"})"), "ok");
  ASSERT_TRUE(WaitUntil([&] { return AllReadyOf(env, 2, "Unknown"); }, 3 * kLeaseDuration)) << env.ProviderLog();
  env.KillServer();
  env.StartServer();
  ASSERT_TRUE(WaitUntil([&] { return env.Gpus().size() == 2; }, 10s)) << env.ProviderLog();
  // Several lease durations: a True written now would stay, with nothing to expire.
  std::this_thread::sleep_for(3 * kLeaseDuration);
  for (auto& [i, g] : env.Gpus()) {
    const auto* ready = env.Ready(g);
    ASSERT_NE(ready, nullptr);
    EXPECT_EQ(ready->status(), "Unknown") << i << " " << ready->reason() << " " << ready->message() << "\n"
                                          << env.ProviderLog();
  }
  deviceapi::LeaseClient leases(env.client());
  EXPECT_TRUE(leases.Get("nvml-provider").ok()) << "no lease after the server restart";
  // Faults seen again: the lease is renewed and True comes back.
  ASSERT_EQ(env.Ctl(R"({"op":"unsupported","call":"nvmlEventSetWait_v2","on":false})"), "ok");
  EXPECT_TRUE(WaitUntil([&] { return AllReadyOf(env, 2, "True"); }, 3 * kLeaseDuration)) << env.ProviderLog();
}

// S28: an idle event wait answers once per --event-wait-timeout. With a timeout longer than
// the lease renew period, a healthy loop must not look stalled: /healthz stays 200 and every
// renewal is made, so the GPUs stay True.
TEST(LeaseE2E, LongEventWaitTimeoutIsNotAStallS28) {
  Env env("leaselongwait");
  env.StartServer();
  env.StartProvider({"--lease-duration", "4s", "--lease-renew-period", "1s", "--event-wait-timeout", "3s"},
                    {{"FAKE_NVML_GPUS", "2"}});
  ASSERT_TRUE(WaitUntil([&] { return AllReadyOf(env, 2, "True"); })) << env.ProviderLog();
  const auto end = std::chrono::steady_clock::now() + 8s;
  int failed = 0;
  while (std::chrono::steady_clock::now() < end) {
    auto health = deviceapi::testing::HttpGet("127.0.0.1", env.AdminPort(), "/healthz");
    ASSERT_TRUE(health);
    if (health->status != 200) ++failed;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(env.ProviderLog().find("not renewing lease"), std::string::npos) << env.ProviderLog();
  EXPECT_TRUE(AllReadyOf(env, 2, "True")) << env.ProviderLog();
}

// S28: a GPU without Xid events registered (no event set could be made, or the driver refused
// every registration) would otherwise stay True whatever happens to it: /healthz fails saying
// why, and the lease, taken once, is not renewed, so every GPU turns Unknown.
TEST(LeaseE2E, GpusWithoutXidEventsTurnUnknownS28) {
  for (const std::string call : {"nvmlEventSetCreate", "nvmlDeviceRegisterEvents"}) {
    SCOPED_TRACE(call);
    Env env("leasecover");
    env.StartWithScenario(R"({"not_supported":[")" + call + R"("]})", kLeaseFlags);
    EXPECT_TRUE(WaitUntil([&] { return AllReady(env, "Unknown"); }, 3 * kLeaseDuration)) << env.ProviderLog();
    auto health = deviceapi::testing::HttpGet("127.0.0.1", env.AdminPort(), "/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 503) << health->body;
    EXPECT_NE(health->body.find(call == "nvmlEventSetCreate" ? "NVML event loop not running"
                                                             : "no Xid events registered for GPU index 0,1,2"),
              std::string::npos)
        << health->body;
  }
}

// S28: a provider restarted (as its liveness probe does) while its GPUs still lack Xid events
// must not take the expired lease again, which would write NVMLReady True for another lease
// duration: the GPUs stay Unknown.
TEST(LeaseE2E, RestartWithoutXidEventsKeepsGpusUnknownS28) {
  Env env("leasecoverrestart");
  env.StartWithScenario(R"({"gpus":2,"not_supported":["nvmlEventSetCreate"]})", kLeaseFlags);
  ASSERT_TRUE(WaitUntil([&] { return AllReadyOf(env, 2, "Unknown"); }, 3 * kLeaseDuration)) << env.ProviderLog();
  env.provider()->Signal(SIGKILL);
  env.provider()->Wait(5s);
  auto watch = WatchFromNow(env, 3 * kLeaseDuration);
  env.StartProvider(kLeaseFlags, {{"FAKE_NVML_SCENARIO", (env.dir() / "scenario.json").string()}});
  deviceapi::WatchEvent event;
  while (watch->Next(&event)) {
    const auto* ready = deviceapi::FindCondition(event.object.status(), "NVMLReady");
    ASSERT_NE(ready, nullptr);
    EXPECT_NE(ready->status(), "True") << event.object.metadata().name() << "\n" << env.ProviderLog();
  }
  EXPECT_TRUE(AllReadyOf(env, 2, "Unknown")) << env.ProviderLog();
}

// S28 across a server restart: leases are durable, and expiry is measured
// from the later of the renew time and the server's start. A provider that
// renews in time after the restart sees nothing turn Unknown: a watch resumed
// from before the kill (S25) carries no NVMLReady other than True.
TEST(LeaseE2E, ServerRestartWithAValidLeaseTurnsNothingUnknownS28) {
  Env env("leaserestart");
  env.StartServer(/*durable=*/true);
  // 5 s: a start under ASan on a loaded machine has taken seconds.
  env.StartProvider({"--lease-duration", "5s", "--lease-renew-period", "400ms"});
  ASSERT_TRUE(WaitUntil([&] { return AllReady(env, "True"); }));
  auto list = env.client().List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  const std::string before_kill = list->metadata().resource_version();
  deviceapi::LeaseClient leases(env.client());
  auto held = leases.Get("nvml-provider");
  ASSERT_TRUE(held.ok()) << held.status().ToString();

  env.KillServer();
  env.StartServer(/*durable=*/true);
  const auto restarted = google::protobuf::util::TimeUtil::GetCurrentTime();
  deviceapi::WatchOptions o;
  o.resource_version = before_kill;
  o.timeout_seconds = 12;  // over two lease durations after the restart
  auto watch = env.client().Watch(o);
  deviceapi::WatchEvent event;
  int events = 0;
  while (watch->Next(&event)) {
    ++events;
    const auto* ready = deviceapi::FindCondition(event.object.status(), "NVMLReady");
    ASSERT_NE(ready, nullptr);
    EXPECT_EQ(ready->status(), "True") << event.object.metadata().name() << ": " << ready->reason() << " "
                                       << ready->message();
  }
  const deviceapi::Status finished = watch->Finish();
  EXPECT_TRUE(finished.ok()) << finished.ToString();  // ended by its timeout, not an error
  auto renewed = leases.Get("nvml-provider");
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed->spec().holder_identity(), held->spec().holder_identity());
  EXPECT_GT(renewed->spec().renew_time(), restarted) << "the provider did not renew after the restart";
  EXPECT_TRUE(AllReady(env, "True")) << env.ProviderLog();
  std::printf("server restart with a 5 s lease: %d events in 12 s, none Unknown\n", events);
}

}  // namespace
}  // namespace e2e
