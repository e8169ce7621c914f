// startup: exec the server binary on a fresh Unix socket, time from exec to
// the first grpc.health.v1 SERVING answer (empty store), then its idle RSS,
// then SIGTERM to exit (S22). Repeated --startup-runs times.
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "bench/proc_stats.h"
#include "bench/scenarios.h"
#include "bench/server_process.h"

namespace deviceapi::bench {

std::vector<Result> RunStartup(BenchContext& ctx) {
  const auto& o = ctx.options;
  if (o.server_binary.empty()) return {Unavailable("startup", "needs --server-binary")};
  char tmpl[] = "/tmp/dab-XXXXXX";
  if (!mkdtemp(tmpl)) return {Unavailable("startup", "mkdtemp failed")};
  const std::string dir = tmpl;
  const std::string sock = dir + "/api.sock";
  const std::string log = dir + "/server.log";

  Result r;
  r.scenario = r.op = "startup";
  r.concurrency = 1;
  LatencyRecorder ready, shutdown;
  ProcSnapshot idle;
  auto begin = Clock::now();
  for (int run = 0; run < o.startup_runs; ++run) {
    std::vector<std::string> args = {o.server_binary, "--bind-address", "unix://" + sock,
                                     "--metrics-bind-address", "0",
                                     "--health-probe-bind-address", "0"};
    if (!o.storage.empty()) args.push_back("--storage-type=" + o.storage);
    // Always a database of its own, also when the server's default backend (sqlite) is
    // used: the default file is the node's real state. Before the caller's arguments, so a
    // --storage-endpoint there wins.
    args.push_back("--storage-endpoint=sqlite://" + dir + "/state.db");
    args.insert(args.end(), o.server_args.begin(), o.server_args.end());
    ServerProcess server;
    std::string error;
    bool ok = server.Start(args, log, &error) &&
              server.WaitReady(sock, std::chrono::seconds(10), &error);
    std::int64_t t1 = NowNs();
    if (ok) {
      ready.Add(t1 - server.started_ns());
      ++r.ops;
      if (run == 0 && o.server_pid == 0) {
        // Idle: let start-up allocations settle, then read RSS.
        std::this_thread::sleep_for(std::chrono::seconds(1));
        idle = ReadProc(server.pid());
      }
    } else {
      ++r.errors;
      if (r.first_error.empty()) r.first_error = error;
    }
    std::int64_t s0 = NowNs();
    const int code = server.Stop();
    if (code == 0) {
      shutdown.Add(NowNs() - s0);
    } else if (ok) {
      ++r.errors;
      if (r.first_error.empty()) r.first_error = "exit code " + std::to_string(code) + " after SIGTERM";
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  r.latency = ready.Summarize();
  auto sd = shutdown.Summarize();
  r.extra["runs"] = o.startup_runs;
  r.extra["shutdown_p50_ms"] = sd.p50_ms;
  if (idle.ok) {
    r.extra["idle_rss_mib"] = idle.rss_mib;
    r.extra["idle_rss_anon_mib"] = idle.anon_mib;
    r.extra["idle_rss_file_mib"] = idle.file_mib;
  }
  r.note = "latency = exec to first health SERVING";
  if (!o.server_args.empty()) {
    std::string joined;
    for (auto& a : o.server_args) joined += (joined.empty() ? "" : " ") + a;
    r.note += "; server args: " + joined;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return {r};
}

}  // namespace deviceapi::bench
