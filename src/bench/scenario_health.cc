// health-e2e: the whole health path. An Xid injected into the fake NVML
// (its control socket) -> the provider's event loop and health policy -> an
// UpdateGpuStatus to the server -> a consumer's watch event reporting it.
// Latency is from the injection to the consumer's receipt.
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "bench/scenarios.h"
#include "control_client.h"

namespace deviceapi::bench {

namespace {
// Fatal Xids the provider reports in its NVMLReady condition; each GPU walks
// through them in turn, so every injection changes the condition's message.
const int kXids[] = {1,  2,  3,  4,  5,  6,  7,  9,  10, 12, 15, 16, 17,
                     18, 19, 20, 21, 22, 23, 24, 26, 27, 28, 29, 30};
constexpr int kXidCount = sizeof kXids / sizeof kXids[0];
}  // namespace

std::vector<Result> RunHealthE2e(BenchContext& ctx) {
  const std::string name = "health-e2e";
  const auto& o = ctx.options;
  if (o.fake_nvml_control.empty())
    return {Unavailable(name, "needs --fake-nvml-control (a provider on the fake NVML publishing to --target)")};
  // The fake NVML opens its control socket when the provider loads it: a
  // provider started just before the bench may not have done so yet.
  auto ping_end = Clock::now() + std::chrono::seconds(15);
  std::string ping;
  while ((ping = fakenvml::SendControl(o.fake_nvml_control, R"({"op":"ping"})")) != "ok") {
    if (Clock::now() > ping_end) return {Unavailable(name, "fake NVML control socket: " + ping)};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // The provider's GPUs, by NVML index (all namespaces); a provider that
  // has just started may still be publishing them.
  v1::ListGpusResponse lresp;
  std::map<int, std::string> name_of;
  auto wait_end = Clock::now() + std::chrono::seconds(15);
  while (true) {
    grpc::ClientContext lctx;
    SetDeadline(&lctx);
    v1::ListGpusRequest lreq;
    auto ls = ctx.conn.gpus->ListGpus(&lctx, lreq, &lresp);
    name_of.clear();
    if (ls.ok()) {
      for (auto& g : lresp.gpu_list().items())
        if (g.status().has_device_info()) name_of[g.status().device_info().index()] = g.metadata().name();
    }
    if (!name_of.empty()) break;
    if (Clock::now() > wait_end) {
      return {Unavailable(name, ls.ok() ? "no provider-published GPUs (with device_info) on the server"
                                        : "list: " + Describe(ls))};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::string> last_message;  // GPU name -> NVMLReady message
  grpc::ClientContext wctx;
  v1::WatchGpusRequest wreq;
  wreq.mutable_opts()->set_resource_version(lresp.gpu_list().metadata().resource_version());
  auto reader = ctx.conn.gpus->WatchGpus(&wctx, wreq);
  std::thread watch_thread([&] {
    v1::WatchGpusResponse ev;
    while (reader->Read(&ev)) {
      if (ev.type() != "MODIFIED") continue;
      for (auto& c : ev.object().status().conditions()) {
        if (c.type() != "NVMLReady") continue;
        std::lock_guard<std::mutex> lock(mu);
        last_message[ev.object().metadata().name()] = c.message();
        cv.notify_all();
      }
    }
  });

  Result r;
  r.scenario = r.op = name;
  r.concurrency = 1;
  LatencyRecorder rec;
  auto begin = Clock::now();
  auto end = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  const int gpus = static_cast<int>(name_of.size());
  std::vector<int> indexes;
  for (auto& [i, _] : name_of) indexes.push_back(i);
  for (int n = 0; n < gpus * kXidCount && Clock::now() < end; ++n) {
    if (o.requests > 0 && static_cast<std::uint64_t>(n) >= o.requests) break;
    int index = indexes[static_cast<std::size_t>(n % gpus)];
    int xid = kXids[n / gpus];
    const std::string& gpu = name_of[index];
    std::string tag = "Xid " + std::to_string(xid) + " ";
    std::int64_t t0 = NowNs();
    std::string reply = fakenvml::SendControl(
        o.fake_nvml_control,
        "{\"op\":\"xid\",\"gpu\":" + std::to_string(index) + ",\"xid\":" + std::to_string(xid) + "}");
    if (reply != "ok") {
      ++r.errors;
      if (r.first_error.empty()) r.first_error = "inject: " + reply;
      continue;
    }
    std::unique_lock<std::mutex> lock(mu);
    bool seen = cv.wait_for(lock, std::chrono::seconds(5), [&] {
      auto it = last_message.find(gpu);
      return it != last_message.end() && it->second.find(tag) != std::string::npos;
    });
    if (seen) {
      rec.Add(NowNs() - t0);
      ++r.ops;
    } else {
      ++r.errors;
      if (r.first_error.empty()) r.first_error = "no watch event for " + tag + "on " + gpu + " within 5 s";
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  wctx.TryCancel();
  watch_thread.join();
  reader->Finish();
  r.latency = rec.Summarize();
  r.extra["gpus"] = gpus;
  r.note = "latency = Xid injection to the consumer's watch event";
  return {r};
}

}  // namespace deviceapi::bench
