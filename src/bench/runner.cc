#include <absl/synchronization/mutex.h>

#include "bench/runner.h"

#include <iostream>
#include <map>

#include "bench/compare.h"
#include "bench/scenarios.h"

namespace deviceapi::bench {

namespace {

using ScenarioFn = std::vector<Result> (*)(BenchContext&);

const std::map<std::string, ScenarioFn>& Scenarios() {
  static const std::map<std::string, ScenarioFn> kScenarios = {
      {"noop", RunNoop},
      {"get", RunGet},
      {"list", RunList},
      {"create", RunCreate},
      {"update-status", RunUpdateStatus},
      {"patch-status", RunPatchStatus},
      {"watch-fanout", RunWatchFanout},
      {"mixed", RunMixed},
      {"memory", RunMemory},
      {"startup", RunStartup},
      {"health-e2e", RunHealthE2e},
  };
  return kScenarios;
}

// p50 and throughput relative to the noop run at the same concurrency in
// this invocation: the budget is stated in these ratios, which cancel out
// most of the machine's speed and load. The nearest noop run before the
// row counts (the first one after it where none came before), so a list of
// scenarios repeated in slices compares each slice with its own noop.
void AddNoopRatios(std::vector<Result>* results) {
  auto& rows = *results;
  auto usable_noop = [](const Result& r) { return r.scenario == "noop" && r.available && r.ops > 0; };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    Result& r = rows[i];
    if (r.scenario == "noop" || !r.available || r.ops == 0) continue;
    if (r.scenario == "watch-fanout" || r.scenario == "mixed" || r.scenario == "memory" ||
        r.scenario == "startup" || r.scenario == "health-e2e")
      continue;
    const Result* n = nullptr;
    for (std::size_t j = i; j-- > 0 && !n;)
      if (usable_noop(rows[j]) && rows[j].concurrency == r.concurrency) n = &rows[j];
    for (std::size_t j = i + 1; j < rows.size() && !n; ++j)
      if (usable_noop(rows[j]) && rows[j].concurrency == r.concurrency) n = &rows[j];
    if (!n) continue;
    if (n->latency.p50_ms > 0) r.extra["p50_vs_noop"] = r.latency.p50_ms / n->latency.p50_ms;
    if (n->ops_per_s() > 0) r.extra["throughput_vs_noop"] = r.ops_per_s() / n->ops_per_s();
  }
}

// Unavailable because an optional input is missing: not a failure.
bool MissingInput(const Result& r) { return r.note.rfind("needs ", 0) == 0; }

}  // namespace

int RunBench(int argc, char** argv) {
  // As in the server: Debian's Abseil checks lock order on every gRPC lock
  // unless told not to, which would weigh on the client's half of each run.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ParseOutcome parsed = ParseOptions(argc, argv);
  if (!parsed.run) {
    if (!parsed.error.empty()) std::cerr << "device-api-bench: " << parsed.error << "\n";
    else std::cout << parsed.output;
    return parsed.exit_code;
  }
  const Options& o = parsed.options;
  if (o.compare) return RunCompare(o);
  Connection conn(o.target, false, false,
                  o.request_shape == "pr-head" ? RequestShape::kPrHead : RequestShape::kMerged);
  BenchContext ctx(o, conn);
  std::vector<Result> results;
  auto add = [&](std::vector<Result> rows) {
    for (auto& r : rows) {
      if (r.concurrency == 0 && r.available) r.concurrency = o.concurrency;
      if (!o.storage.empty()) r.extra["storage"] = o.storage;
      results.push_back(std::move(r));
    }
  };
  if (o.interleave) {
    add(RunInterleaved(ctx, o.scenarios));
  } else {
    for (auto& name : o.scenarios) {
      add(Scenarios().at(name)(ctx));
      // The memory scenario's writes change what other scenarios would list.
      if (name == "memory") ctx.MarkDirty();
    }
  }
  AddNoopRatios(&results);
  if (o.json) {
    for (auto& r : results) std::cout << r.ToJson().dump() << "\n";
  } else {
    std::cout << "\n";
    PrintTable(results, std::cout);
  }
  int code = 0;
  for (auto& r : results)
    if (r.errors > 0 || (!r.available && !MissingInput(r))) code = 1;
  return code;
}

}  // namespace deviceapi::bench
