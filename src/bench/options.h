// Command-line options of device-api-bench. One Options value drives every
// scenario of one invocation; scenarios read only the fields they need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace deviceapi::bench {

struct Options {
  std::vector<std::string> scenarios;  // positional, run in the order given
  std::string target = "unix:///var/run/nvidia-device-api/device-api.sock";
  int concurrency = 1;        // closed-loop workers (writers in watch scenarios)
  double duration_s = 5;      // measured time per scenario (when requests == 0)
  std::uint64_t requests = 0; // > 0: stop after this many measured operations
  double warmup_s = 1;        // unmeasured time before each scenario
  int gpus = 64;              // GPU objects seeded in `namespace_name`
  int conditions = 8;         // conditions per seeded GPU
  int watchers = 100;         // watch streams (watch-fanout, mixed, memory)
  double rate = 200;          // writes per second (watch-fanout, mixed writers)
  int server_pid = 0;         // sample RSS and CPU of this process from /proc
  bool json = false;          // one JSON object per result line instead of a table
  // Run the (unary) scenarios as one loop, each worker issuing one operation
  // of each in turn, instead of one scenario after another.
  bool interleave = false;
  double slice_s = 0.025;     // --interleave: seconds per scenario's turn
  std::string namespace_name = "bench";
  // health-e2e: control socket of the fake NVML behind a provider that
  // publishes into --target.
  std::string fake_nvml_control;
  // startup: the server binary to exec, and extra arguments for it.
  std::string server_binary;
  std::vector<std::string> server_args;
  int startup_runs = 10;
  // The server's storage backend ("memory" or "sqlite"; "" = not said):
  // every result is labelled with it, and startup passes it to its servers
  // (sqlite: a database file in the run's temp dir unless --server-arg names one).
  std::string storage;
  bool progress = true;       // progress line on a TTY for long runs
  // UpdateGpuStatusRequest as merged ("merged") or as NVSentinel's pull
  // request #720 had it at its head ("pr-head": no namespace field, so the
  // bench's objects live in "default").
  std::string request_shape = "merged";

  // compare mode (first positional argument "compare"): the servers to start,
  // in the order given, and what the bench runs against each.
  struct Server {
    std::string label;
    std::string binary;
    std::vector<std::string> args;  // {socket}, {dir} and {port} expanded per start
    std::string request_shape;      // as request_shape
  };
  bool compare = false;
  std::vector<Server> servers;
  std::string baseline;       // label ratios are relative to (default: the last server)
  int rounds = 5;             // interleaved rounds
  double burst_rate = 1000;   // burst: the fixed write rate every server gets
  int memory_conditions = 32; // memory: conditions per GPU
  bool markdown = false;      // compare: a markdown table instead of the text table
};

struct ParseOutcome {
  bool run = false;
  int exit_code = 0;
  std::string output;  // --help text
  std::string error;
  Options options;
};

ParseOutcome ParseOptions(int argc, const char* const* argv);

// The scenario names this tool knows, in the standard order.
const std::vector<std::string>& KnownScenarios();

// The scenarios --interleave can run together (the closed-loop unary ones;
// defined beside them, in scenarios_unary.cc).
const std::vector<std::string>& InterleavableScenarios();

// The scenarios of compare mode (each a scenario above with fixed
// parameters, see compare.h), in the standard order.
const std::vector<std::string>& CompareScenarios();

}  // namespace deviceapi::bench
