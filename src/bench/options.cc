#include "bench/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <set>

#include "base/command_line.h"

namespace deviceapi::bench {

const std::vector<std::string>& CompareScenarios() {
  static const std::vector<std::string> kNames = {
      "startup", "get", "update-status", "list", "watch-fanout", "burst", "burst-max", "memory"};
  return kNames;
}

namespace {

bool Contains(const std::vector<std::string>& names, const std::string& s) {
  for (auto& n : names)
    if (n == s) return true;
  return false;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// "LABEL=VALUE" of a declared server; false with `error` otherwise.
bool SplitLabelled(const std::string& flag, const std::string& item, Options& o,
                   Options::Server** server, std::string* value, std::string* error) {
  const auto eq = item.find('=');
  const std::string label = eq == std::string::npos ? "" : item.substr(0, eq);
  for (auto& s : o.servers) {
    if (s.label != label) continue;
    *server = &s;
    *value = item.substr(eq + 1);
    return true;
  }
  *error = flag + " \"" + item + "\": want LABEL=VALUE with the LABEL of a --server";
  return false;
}

// Compare mode's flags: servers, their arguments and request shapes.
std::string CheckCompare(Options& o, const std::vector<std::string>& server_flags,
                         const std::vector<std::string>& shapes) {
  for (auto& item : server_flags) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      return "--server \"" + item + "\": want LABEL=BINARY";
    Options::Server s;
    s.label = item.substr(0, eq);
    s.binary = item.substr(eq + 1);
    for (auto& other : o.servers)
      if (other.label == s.label) return "--server: label \"" + s.label + "\" given twice";
    o.servers.push_back(std::move(s));
  }
  if (o.servers.size() < 2) return "compare needs two or more --server LABEL=BINARY";
  std::string error, value;
  Options::Server* server = nullptr;
  for (auto& item : o.server_args) {
    if (!SplitLabelled("--server-arg", item, o, &server, &value, &error)) return error;
    server->args.push_back(value);
  }
  o.server_args.clear();
  for (auto& s : o.servers) s.request_shape = o.request_shape;
  for (auto& item : shapes) {
    if (item.find('=') == std::string::npos) continue;
    if (!SplitLabelled("--request-shape", item, o, &server, &value, &error)) return error;
    if (value != "merged" && value != "pr-head") return "--request-shape: merged or pr-head";
    server->request_shape = value;
  }
  if (o.baseline.empty()) o.baseline = o.servers.back().label;
  bool known = false;
  for (auto& s : o.servers) known = known || s.label == o.baseline;
  if (!known) return "--baseline \"" + o.baseline + "\" is not the label of a --server";
  for (auto& name : o.scenarios)
    if (!Contains(CompareScenarios(), name))
      return "unknown compare scenario \"" + name + "\" (known: " + Join(CompareScenarios()) + ")";
  if (o.scenarios.empty()) o.scenarios = CompareScenarios();
  return "";
}

}  // namespace

const std::vector<std::string>& KnownScenarios() {
  static const std::vector<std::string> kNames = {
      "noop", "get", "list", "create", "update-status", "patch-status", "watch-fanout",
      "mixed", "memory", "startup", "health-e2e"};
  return kNames;
}

ParseOutcome ParseOptions(int argc, const char* const* argv) {
  ParseOutcome out;
  Options& o = out.options;
  const std::string names = Join(KnownScenarios());
  CLI::App app{
      "Load generator and latency meter for any server speaking the "
      "nvidia.nvsentinel.v1alpha1 GpuService contract.\nScenarios: " + names + ".\n"
      "noop is grpc.health.v1 Check on the same channel: the transport's floor; every other "
      "unary scenario reports its p50 and throughput as a ratio of the noop run at the same "
      "concurrency in the same invocation (the nearest one before it).\n"
      "Only the base contract is sent (no labels, no extension fields of ListOptions); "
      "patch-status needs the PatchGpu extension and health-e2e the provider's device_info, "
      "and say so where the server lacks them.\n"
      "device-api-bench compare --server A=BIN --server B=BIN [scenarios]: starts each server "
      "afresh per round on a socket of its own, runs the compare scenarios (" +
          Join(CompareScenarios()) + ") against each in interleaved rounds and reports every "
          "figure as a ratio to the baseline server, per round and as the median.",
      "device-api-bench"};
  app.add_option("scenarios", o.scenarios,
                 "Scenarios to run, in order; or compare [compare scenarios] (default: all of them)")
      ->required();
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
  app.add_flag("--interleave", o.interleave,
               "Run the scenarios (unary ones only: noop, get, list, create, update-status, patch-status) as "
               "one closed loop for --duration in all, taking turns in slices of --slice seconds: every "
               "scenario meets the same machine, so their ratios to noop do not drift with its load. Each "
               "still reports its own row; its ops/s is its rate while it ran (concurrency / mean latency)");
  app.add_option("--slice", o.slice_s, "--interleave: seconds of each scenario's turn")
      ->capture_default_str()->check(CLI::Range(0.001, 60.0));
  auto* ns_flag = app.add_option("--namespace", o.namespace_name, "Namespace of the bench objects")
      ->capture_default_str();
  app.add_option("--fake-nvml-control", o.fake_nvml_control,
                 "health-e2e: control socket of the fake NVML a provider publishes from");
  app.add_option("--server-binary", o.server_binary, "startup: server binary to exec");
  app.add_option("--server-arg", o.server_args,
                 "startup: extra argument for the server (repeat); --bind-address is set by the bench. "
                 "compare: LABEL=ARG, an argument of that server; {socket}, {dir} (its fresh "
                 "temp dir) and {port} (a free TCP port) are expanded; without {socket} the bench "
                 "adds --bind-address unix://{socket}")
      ->allow_extra_args(false);
  std::vector<std::string> server_flags, shapes;
  app.add_option("--server", server_flags, "compare: LABEL=BINARY, a server to compare (repeat)")
      ->allow_extra_args(false);
  app.add_option("--request-shape", shapes,
                 "UpdateGpuStatusRequest shape: merged (default) or pr-head (NVSentinel's pull "
                 "request #720 at its head; objects in namespace default). compare: also "
                 "LABEL=SHAPE for one server")
      ->allow_extra_args(false);
  app.add_option("--baseline", o.baseline, "compare: label of the server ratios are relative to "
                 "(default: the last --server)");
  app.add_option("--rounds", o.rounds, "compare: interleaved rounds")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--burst-rate", o.burst_rate, "compare: the fixed write rate of burst (writes/s)")
      ->capture_default_str()->check(CLI::Range(1.0, 1e7));
  app.add_option("--memory-conditions", o.memory_conditions, "compare: conditions per GPU in memory")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_flag("--markdown", o.markdown, "compare: print a markdown table instead of the text table");
  app.add_option("--storage", o.storage,
                 "The server's storage backend, memory or sqlite: labels every result; startup passes it "
                 "to its servers (sqlite: a file in its temp dir unless --server-arg sets --storage-endpoint)")
      ->check(CLI::IsMember({"memory", "sqlite"}));
  app.add_option("--startup-runs", o.startup_runs, "startup: servers started")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "No progress line even on a TTY");
  try {
    std::vector<std::string> args = base::CommandLineArgs(argc, argv);
    std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out.output = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    out.error = e.what();
    out.exit_code = 2;
    return out;
  }
  o.progress = !no_progress;
  auto fail = [&](std::string why) {
    out.error = std::move(why);
    out.exit_code = 2;
    return out;
  };
  bool any_pr_head = false;
  for (auto& item : shapes) {
    const auto eq = item.find('=');
    const std::string shape = eq == std::string::npos ? item : item.substr(eq + 1);
    if (shape != "merged" && shape != "pr-head")
      return fail("--request-shape \"" + item + "\": merged or pr-head");
    if (eq == std::string::npos) o.request_shape = shape;
    any_pr_head = any_pr_head || shape == "pr-head";
  }
  if (any_pr_head) {
    // The PR-head request has no namespace: the server writes in "default".
    if (ns_flag->count() > 0 && o.namespace_name != "default")
      return fail("--request-shape pr-head writes status in namespace \"default\" only; "
                  "--namespace " + o.namespace_name + " cannot be used with it");
    o.namespace_name = "default";
  }
  o.compare = o.scenarios.front() == "compare";
  if (o.compare) {
    o.scenarios.erase(o.scenarios.begin());
    if (std::string why = CheckCompare(o, server_flags, shapes); !why.empty()) return fail(why);
    out.run = true;
    return out;
  }
  if (!server_flags.empty()) return fail("--server is for compare mode");
  for (auto& item : shapes)
    if (item.find('=') != std::string::npos) return fail("--request-shape LABEL=SHAPE is for compare mode");
  for (auto& s : o.scenarios)
    if (!Contains(KnownScenarios(), s)) return fail("unknown scenario \"" + s + "\" (known: " + names + ")");
  if (o.interleave) {
    for (auto& s : o.scenarios)
      if (!Contains(InterleavableScenarios(), s))
        return fail("--interleave runs unary scenarios only (" + Join(InterleavableScenarios()) + "), not \"" + s +
                    "\"");
    std::set<std::string> seen;
    for (auto& s : o.scenarios)
      if (!seen.insert(s).second) return fail("--interleave: scenario \"" + s + "\" is named twice");
    if (seen.count("list") && seen.count("create"))
      return fail("--interleave: list checks the seeded GPUs, which create's GPUs would add to; run them apart");
  }
  out.run = true;
  return out;
}

}  // namespace deviceapi::bench
