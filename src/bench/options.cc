#include "bench/options.h"

#include <CLI/CLI.hpp>

namespace deviceapi::bench {

const std::vector<std::string>& KnownScenarios() {
  static const std::vector<std::string> kNames = {
      "noop", "get", "list", "create", "update-status", "patch-status", "watch-fanout",
      "mixed", "memory", "startup", "health-e2e"};
  return kNames;
}

ParseOutcome ParseOptions(int argc, const char* const* argv) {
  ParseOutcome out;
  Options& o = out.options;
  std::string names;
  for (auto& n : KnownScenarios()) names += (names.empty() ? "" : ", ") + n;
  CLI::App app{
      "Load generator and latency meter for any server speaking the "
      "nvidia.nvsentinel.v1alpha1 GpuService contract.\nScenarios: " + names + ".\n"
      "noop is grpc.health.v1 Check on the same channel: the transport's floor; every other "
      "unary scenario reports its p50 and throughput as a ratio of the noop run at the same "
      "concurrency in the same invocation.",
      "device-api-bench"};
  app.add_option("scenarios", o.scenarios, "Scenarios to run, in order")->required();
  app.add_option("--target", o.target, "unix:///path or host:port")->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "Closed-loop workers (writers in watch scenarios)")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--duration", o.duration_s, "Measured seconds per scenario")
      ->capture_default_str()->check(CLI::Range(0.05, 86400.0));
  app.add_option("--requests", o.requests,
                 "Stop after this many measured operations instead (memory: status updates)");
  app.add_option("--warmup", o.warmup_s, "Unmeasured seconds before each scenario")
      ->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  app.add_option("--gpus", o.gpus, "GPU objects seeded in the bench namespace")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--conditions", o.conditions, "Conditions per seeded GPU")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--watchers", o.watchers, "Watch streams (watch-fanout, mixed, memory)")
      ->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--rate", o.rate, "Writes per second (watch-fanout; 0: as fast as possible)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e7));
  app.add_option("--server-pid", o.server_pid, "Sample this process's RSS and CPU from /proc");
  app.add_flag("--json", o.json, "Print one JSON object per result instead of the table");
  app.add_option("--namespace", o.namespace_name, "Namespace of the bench objects")
      ->capture_default_str();
  app.add_option("--fake-nvml-control", o.fake_nvml_control,
                 "health-e2e: control socket of the fake NVML a provider publishes from");
  app.add_option("--server-binary", o.server_binary, "startup: server binary to exec");
  app.add_option("--server-arg", o.server_args,
                 "startup: extra argument for the server (repeat); --bind-address is set by the bench")
      ->allow_extra_args(false);
  app.add_option("--storage", o.storage,
                 "The server's storage backend, memory or sqlite: labels every result; startup passes it "
                 "to its servers (sqlite: a file in its temp dir unless --server-arg sets --storage-endpoint)")
      ->check(CLI::IsMember({"memory", "sqlite"}));
  app.add_option("--startup-runs", o.startup_runs, "startup: servers started")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "No progress line even on a TTY");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out.output = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    out.error = e.what();
    out.exit_code = 2;
    return out;
  }
  o.progress = !no_progress;
  for (auto& s : o.scenarios) {
    bool known = false;
    for (auto& k : KnownScenarios()) known = known || k == s;
    if (!known) {
      out.error = "unknown scenario \"" + s + "\" (known: " + names + ")";
      out.exit_code = 2;
      return out;
    }
  }
  out.run = true;
  return out;
}

}  // namespace deviceapi::bench
