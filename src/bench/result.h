// One row of a bench report: a scenario (or one operation of a scenario that
// mixes several) with throughput, latency, errors and scenario-specific
// figures (lost events, server RSS, ratios to noop...).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/latency.h"

namespace deviceapi::bench {

struct Result {
  std::string scenario;   // e.g. "mixed"
  std::string op;         // e.g. "get"; equal to scenario for single-op scenarios
  bool available = true;  // false: the scenario could not run here (see note)
  std::string note;
  int concurrency = 0;
  std::uint64_t ops = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  LatencySummary latency;
  nlohmann::json extra = nlohmann::json::object();  // figures beyond the table
  std::string first_error;  // the first error seen, for diagnosis

  double ops_per_s() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
  std::string name() const { return op == scenario ? scenario : scenario + "/" + op; }
  nlohmann::json ToJson() const;
};

// A fixed-width table with a header, then a line per result.
void PrintTable(const std::vector<Result>& results, std::ostream& out);

}  // namespace deviceapi::bench
