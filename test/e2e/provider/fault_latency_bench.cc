// Fault-to-consumer latency: time from injecting an Xid into the fake NVML
// (control socket write) to a consumer's watch receiving the GPU's MODIFIED
// event that reports it. 200 injections; prints median, p90, p99 and max.
// Run by hand: build/<dir>/test/e2e/provider/provider_fault_latency_bench
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "harness.h"

namespace e2e {
namespace {

TEST(FaultLatency, XidToWatchEvent) {
  Env env("bench");
  env.StartServer();
  env.StartProvider({"--log-level", "info", "--reconcile-interval", "30s"});
  auto gpus = env.Gpus();
  ASSERT_EQ(gpus.size(), 8u);
  std::map<std::string, int> index_of;
  for (auto& [i, g] : gpus) index_of[g.metadata().name()] = i;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;  // "gpu:xid" tags observed
  // S12: watch from the list's resource version sees every later change.
  auto list = env.client().List();
  ASSERT_TRUE(list.ok());
  deviceapi::WatchOptions wo;
  wo.resource_version = list->metadata().resource_version();
  auto watch = env.client().Watch(wo);
  std::thread reader([&] {
    deviceapi::WatchEvent ev;
    while (watch->Next(&ev)) {
      if (ev.type != deviceapi::EventType::kModified) continue;
      auto* c = deviceapi::FindCondition(ev.object.status(), "NVMLReady");
      if (!c) continue;
      std::lock_guard<std::mutex> lk(mu);
      seen.push_back(std::to_string(index_of[ev.object.metadata().name()]) + "|" + c->message());
      cv.notify_all();
    }
  });

  // 25 distinct fatal Xids x 8 GPUs: every injection changes the condition.
  const std::vector<int> xids = {1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26, 27, 28, 29, 30};
  std::vector<double> ms;
  for (int n = 0; n < 200; ++n) {
    int gpu = n % 8, xid = xids[n / 8];
    std::string tag = "Xid " + std::to_string(xid) + " ";
    auto t0 = std::chrono::steady_clock::now();
    env.InjectXid(gpu, xid);
    std::unique_lock<std::mutex> lk(mu);
    bool ok = cv.wait_for(lk, 5s, [&] {
      for (auto& s : seen)
        if (s.rfind(std::to_string(gpu) + "|", 0) == 0 && s.find(tag) != std::string::npos) return true;
      return false;
    });
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(ok) << "injection " << n;
    seen.clear();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  watch->Cancel();
  reader.join();
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  std::printf("fault->watch latency over %zu injections: median %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              ms.size(), pct(0.5), pct(0.9), pct(0.99), ms.back());
  EXPECT_LT(pct(0.5), 20.0);
}

}  // namespace
}  // namespace e2e
