// Watch scenarios: watch-fanout (M watchers, W writes/s, delivery latency
// from each write's acknowledgement to each watcher's receipt, verified by
// revision), mixed (readers + writers + watchers) and memory (a large store,
// watchers and a full history; server RSS after the run).
#include <charconv>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "bench/closed_loop.h"
#include "bench/objects.h"
#include "bench/proc_stats.h"
#include "bench/scenarios.h"
#include "bench/watch_fleet.h"

namespace deviceapi::bench {

namespace {

// Status writers that log every acknowledged revision for verification.
class WriteLog {
 public:
  explicit WriteLog(int workers) : per_worker_(static_cast<std::size_t>(workers)) {}
  std::vector<AckedWrite>& of(int w) { return per_worker_[static_cast<std::size_t>(w)]; }
  std::vector<AckedWrite> All() const {
    std::vector<AckedWrite> all;
    for (auto& v : per_worker_) all.insert(all.end(), v.begin(), v.end());
    return all;
  }
  std::uint64_t MaxRevision() const {
    std::uint64_t m = 0;
    for (auto& v : per_worker_)
      for (auto& w : v) m = std::max(m, w.revision);
    return m;
  }

 private:
  std::vector<std::vector<AckedWrite>> per_worker_;
};

WorkerFactory StatusWriters(BenchContext& ctx, WriteLog* log, int workers) {
  return [&ctx, log, workers](int w) -> Operation {
    auto req = std::make_shared<v1::UpdateGpuStatusRequest>(
        MakeStatusUpdate(ctx.options.namespace_name, 0, ctx.options.conditions, 0));
    return [&ctx, log, workers, w, req](std::uint64_t seq, std::string* error, std::int64_t*) {
      NextStatusWrite(req.get(), w, workers, seq, ctx.options.gpus);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      v1::Gpu out;
      std::int64_t sent = NowNs();
      auto s = ctx.conn.UpdateGpuStatus(&cctx, *req, &out);
      std::int64_t acked = NowNs();
      if (!s.ok()) {
        *error = Describe(s);
        return false;
      }
      AckedWrite a;
      a.sent_ns = sent;
      a.acked_ns = acked;
      const auto& rv = out.metadata().resource_version();
      auto [p, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), a.revision);
      if (ec != std::errc() || p != rv.data() + rv.size()) {
        *error = "resource_version \"" + rv + "\" is not a decimal revision";
        return false;
      }
      log->of(w).push_back(a);
      return true;
    };
  };
}

// Marker writes until every watcher saw the latest: the streams are open and
// caught up before anything is measured. A watch from now sees only writes
// after the server registered it, so one marker may come too early for it:
// another follows every 500 ms, for up to 30 s.
bool Settle(BenchContext& ctx, WatchFleet& fleet, std::string* error) {
  WriteLog log(1);
  auto op = StatusWriters(ctx, &log, 1)(0);
  const auto end = Clock::now() + std::chrono::seconds(30);
  for (std::uint64_t seq = 0; Clock::now() < end; ++seq) {
    std::int64_t unused = -1;
    if (!op(seq, error, &unused)) return false;
    if (fleet.WaitAllReached(log.MaxRevision(), std::chrono::milliseconds(500))) return true;
  }
  *error = "watchers did not catch up with a marker write within 30 s";
  return false;
}

// --watchers watches from the current revision (from now where the server
// cannot resume a watch), open and caught up (Settle), or null with `error`.
std::unique_ptr<WatchFleet> OpenSettledFleet(BenchContext& ctx, std::string* error) {
  std::string rv = CurrentRevision(ctx.conn, ctx.options.namespace_name, error);
  if (rv.empty()) return nullptr;
  auto fleet = std::make_unique<WatchFleet>(ctx.options.target, ctx.options.namespace_name,
                                            ctx.options.watchers, rv, ctx.WatchFromRevision(rv));
  fleet->Start();
  if (!Settle(ctx, *fleet, error)) return nullptr;
  return fleet;
}

Result DeliveryRow(const std::string& scenario, int watchers, const Result& writes,
                   const DeliveryReport& d) {
  Result r;
  r.scenario = scenario;
  r.op = "delivery";
  r.concurrency = watchers;
  r.ops = d.delivered;
  r.seconds = writes.seconds;
  r.errors = d.errors();
  r.latency = d.from_ack;
  r.first_error = d.first_end_status;
  r.extra["watchers"] = watchers;
  r.extra["lost"] = d.lost;
  r.extra["duplicated"] = d.duplicated;
  r.extra["ended_early"] = d.ended_early;
  r.extra["p50_from_send_ms"] = d.from_send.p50_ms;
  r.extra["p99_from_send_ms"] = d.from_send.p99_ms;
  return r;
}

void AddServerFigures(Result* r, const ProcSampler& s) {
  if (!s.enabled()) return;
  r->extra["server_cpu_percent"] = s.cpu_percent();
  r->extra["server_rss_mib"] = s.end_rss_mib();
  r->extra["server_peak_rss_mib"] = s.peak_rss_mib();
}

LoopSpec WriterSpec(const BenchContext& ctx, const std::string& scenario) {
  LoopSpec spec;
  spec.scenario = scenario;
  spec.op = "update-status";
  spec.concurrency = ctx.options.concurrency;
  spec.warmup_s = ctx.options.warmup_s;
  spec.duration_s = ctx.options.duration_s;
  spec.requests = ctx.options.requests;
  spec.progress = ctx.options.progress;
  if (ctx.options.rate > 0) spec.per_worker_rate = ctx.options.rate / ctx.options.concurrency;
  return spec;
}

}  // namespace

bool BenchContext::WatchFromRevision(const std::string& revision) {
  if (watch_from_revision_ < 0) {
    std::string why;
    watch_from_revision_ = WatchResumesFromRevision(conn, options.namespace_name, revision, &why);
    if (!watch_from_revision_)
      std::cerr << "device-api-bench: the server does not start a watch at a resource version ("
                << why << "); watching from now\n";
  }
  return watch_from_revision_ == 1;
}

std::vector<Result> RunWatchFanout(BenchContext& ctx) {
  const std::string name = "watch-fanout";
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return {Unavailable(name, "setup: " + error)};
  auto fleet_ptr = OpenSettledFleet(ctx, &error);
  if (!fleet_ptr) return {Unavailable(name, "setup: " + error)};
  WatchFleet& fleet = *fleet_ptr;

  ProcSampler sampler(ctx.options.server_pid);
  sampler.Start();
  WriteLog log(ctx.options.concurrency);
  Result writes = RunClosedLoop(WriterSpec(ctx, name),
                                StatusWriters(ctx, &log, ctx.options.concurrency));
  // Every acknowledged write must reach every watcher; give them time to.
  fleet.WaitAllReached(log.MaxRevision(), std::chrono::seconds(10));
  sampler.Stop();
  fleet.Stop();
  Result delivery = DeliveryRow(name, fleet.size(), writes, fleet.Verify(log.All()));
  delivery.extra["rate"] = ctx.options.rate;
  AddServerFigures(&delivery, sampler);
  return {writes, delivery};
}

std::vector<Result> RunMixed(BenchContext& ctx) {
  const std::string name = "mixed";
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return {Unavailable(name, "setup: " + error)};
  auto fleet_ptr = OpenSettledFleet(ctx, &error);
  if (!fleet_ptr) return {Unavailable(name, "setup: " + error)};
  WatchFleet& fleet = *fleet_ptr;

  // Half the workers read (closed loop), half write (at --rate, if set).
  const int readers = std::max(1, ctx.options.concurrency / 2);
  const int writers = std::max(1, ctx.options.concurrency - readers);
  ProcSampler sampler(ctx.options.server_pid);
  sampler.Start();
  WriteLog log(writers);
  LoopSpec wspec = WriterSpec(ctx, name);
  wspec.concurrency = writers;
  if (ctx.options.rate > 0) wspec.per_worker_rate = ctx.options.rate / writers;
  wspec.progress = false;
  Result writes;
  std::thread writer_thread(
      [&] { writes = RunClosedLoop(wspec, StatusWriters(ctx, &log, writers)); });
  LoopSpec rspec = WriterSpec(ctx, name);
  rspec.op = "get";
  rspec.concurrency = readers;
  rspec.per_worker_rate = 0;
  const int gpus = ctx.options.gpus;
  Result reads = RunClosedLoop(rspec, [&](int w) -> Operation {
    auto counter = std::make_shared<std::uint64_t>(static_cast<std::uint64_t>(w) * 7919);
    return [&, counter](std::uint64_t, std::string* error, std::int64_t*) {
      v1::GetGpuRequest req;
      req.set_namespace_(ctx.options.namespace_name);
      req.set_name(GpuName(static_cast<int>((*counter)++ % static_cast<std::uint64_t>(gpus))));
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      v1::GetGpuResponse resp;
      auto s = ctx.conn.gpus->GetGpu(&cctx, req, &resp);
      if (!s.ok()) *error = Describe(s);
      return s.ok();
    };
  });
  writer_thread.join();
  fleet.WaitAllReached(log.MaxRevision(), std::chrono::seconds(10));
  sampler.Stop();
  fleet.Stop();
  Result delivery = DeliveryRow(name, fleet.size(), writes, fleet.Verify(log.All()));
  AddServerFigures(&delivery, sampler);
  return {reads, writes, delivery};
}

std::vector<Result> RunMemory(BenchContext& ctx) {
  const std::string name = "memory";
  if (ctx.options.server_pid <= 0)
    return {Unavailable(name, "needs --server-pid (the server's RSS is the figure)")};
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return {Unavailable(name, "setup: " + error)};
  const std::uint64_t total = ctx.options.requests > 0 ? ctx.options.requests : 20000;
  // Phase 1 fills the history as fast as the server takes writes. Phase 2
  // (the last 10 s worth at --rate, at most all of them) runs with the
  // watchers open, so the figure holds 100 live, caught-up watchers: at full
  // speed they would fall behind and be evicted (S16), and an evicted
  // watcher holds no memory.
  std::uint64_t live = ctx.options.rate > 0 ? static_cast<std::uint64_t>(ctx.options.rate * 10) : total;
  live = std::min(live, total);
  ProcSampler sampler(ctx.options.server_pid);
  sampler.Start();
  Result fill;
  if (total > live) {
    WriteLog fill_log(ctx.options.concurrency);
    LoopSpec spec = WriterSpec(ctx, name);
    spec.per_worker_rate = 0;
    spec.warmup_s = 0;  // every write counts toward the history
    spec.requests = total - live;
    spec.progress = false;
    fill = RunClosedLoop(spec, StatusWriters(ctx, &fill_log, ctx.options.concurrency));
  }
  auto fleet_ptr = OpenSettledFleet(ctx, &error);
  if (!fleet_ptr) return {Unavailable(name, "setup: " + error)};
  WatchFleet& fleet = *fleet_ptr;
  WriteLog log(ctx.options.concurrency);
  LoopSpec spec = WriterSpec(ctx, name);
  spec.warmup_s = 0;
  spec.requests = live;
  Result writes = RunClosedLoop(spec, StatusWriters(ctx, &log, ctx.options.concurrency));
  fleet.WaitAllReached(log.MaxRevision(), std::chrono::seconds(30));
  // RSS with the watchers still open and the history full.
  auto after = ReadProc(ctx.options.server_pid);
  sampler.Stop();
  fleet.Stop();
  Result r = DeliveryRow(name, fleet.size(), writes, fleet.Verify(log.All()));
  r.op = name;
  r.ops = writes.ops + fill.ops;
  r.seconds = writes.seconds + fill.seconds;
  r.errors += writes.errors + fill.errors;
  r.latency = writes.latency;  // the table shows the paced writes; delivery is in extra
  r.concurrency = ctx.options.concurrency;
  if (r.first_error.empty()) r.first_error = !writes.first_error.empty() ? writes.first_error : fill.first_error;
  r.extra["gpus"] = ctx.options.gpus;
  r.extra["conditions"] = ctx.options.conditions;
  r.extra["updates"] = writes.ops + fill.ops;
  r.extra["updates_with_watchers"] = writes.ops;
  r.extra["rate"] = ctx.options.rate;
  r.extra["server_rss_mib"] = after.rss_mib;
  r.extra["server_rss_anon_mib"] = after.anon_mib;
  r.extra["server_rss_file_mib"] = after.file_mib;
  r.extra["server_peak_rss_mib"] = std::max(after.hwm_mib, sampler.peak_rss_mib());
  r.extra["server_cpu_percent"] = sampler.cpu_percent();
  return {r};
}

}  // namespace deviceapi::bench
