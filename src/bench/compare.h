// compare mode: two or more server binaries, each started afresh per round
// on a Unix socket of its own (a fresh temp dir for its state), measured with
// the same scenarios in interleaved rounds (A B, then B A, ...), so that a
// burst of load from another tenant of the machine weighs on every server
// alike. Every figure is reported per server and as a ratio to the baseline
// server: per round, and the median with its range over the rounds.
//
// The scenarios, each a scenario of the tool with fixed parameters
// (--gpus x --conditions GPUs unless said):
//   startup        exec to ready, then idle RSS and RssAnon after 1 s
//   get            GetGpu p50, 1 client
//   update-status  UpdateGpuStatus ops/s, 8 clients
//   list           ListGpus of every GPU, p50, 1 client
//   watch-fanout   delivery p99, --watchers watches, --rate writes/s
//   burst          delivery p99, --watchers watches, --burst-rate writes/s
//                  for every server alike
//   burst-max      the same with closed-loop writers: the rate each server
//                  sustains, and its delivery p99
//   memory         RssAnon with --memory-conditions conditions per GPU and
//                  --watchers watches after the memory scenario's writes
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/options.h"

namespace deviceapi::bench {

// One figure of the comparison.
struct CompareMetric {
  std::string scenario;
  std::string name;          // e.g. "p50 ms (1 client)"
  bool higher_is_better = false;
  // label -> value per round (NaN where that round had none)
  std::map<std::string, std::vector<double>> values;
};

// Median of the finite values (NaN if none).
double Median(std::vector<double> v);

// The report of a finished comparison: ratios to `o.baseline` per round,
// their median and range. `machine` (nproc, load) goes into JSON and the
// header of the tables.
nlohmann::json CompareReport(const Options& o, const std::vector<CompareMetric>& metrics,
                             const nlohmann::json& machine, const std::vector<std::string>& problems);
std::string CompareTable(const nlohmann::json& report, bool markdown);

// Runs the comparison and prints it; the exit code (0: no errors).
int RunCompare(const Options& o);

// {socket}, {dir} and {port} (a free TCP port, a new one at each
// occurrence) in `arg`.
std::string ExpandServerArg(const std::string& arg, const std::string& socket, const std::string& dir);

}  // namespace deviceapi::bench
