// The scenarios of device-api-bench. Each returns one or more result rows;
// a scenario that cannot run here returns a row marked unavailable with the
// reason, never a silent gap in the report.
#pragma once

#include <string>
#include <vector>

#include "bench/connection.h"
#include "bench/options.h"
#include "bench/result.h"

namespace deviceapi::bench {

// What every scenario of one invocation shares.
class BenchContext {
 public:
  BenchContext(const Options& options, Connection& connection)
      : options(options), conn(connection) {}
  const Options& options;
  Connection& conn;
  // Seeds the bench namespace with --gpus x --conditions once per invocation
  // (again when a scenario changed it) and waits until the server is ready.
  bool EnsureSeeded(std::string* error);
  void MarkDirty() { seeded_ = false; }
  // Whether this server starts watches at a resource version (probed once,
  // at `revision`); when not, the watch scenarios watch from now.
  bool WatchFromRevision(const std::string& revision);

 private:
  bool seeded_ = false;
  int watch_from_revision_ = -1;  // -1: not probed yet
};

// A row for a scenario that could not run (or failed to set up).
Result Unavailable(const std::string& scenario, const std::string& why);

std::vector<Result> RunNoop(BenchContext& ctx);
std::vector<Result> RunGet(BenchContext& ctx);
std::vector<Result> RunList(BenchContext& ctx);
std::vector<Result> RunCreate(BenchContext& ctx);
std::vector<Result> RunUpdateStatus(BenchContext& ctx);
std::vector<Result> RunPatchStatus(BenchContext& ctx);
std::vector<Result> RunWatchFanout(BenchContext& ctx);
std::vector<Result> RunMixed(BenchContext& ctx);
std::vector<Result> RunMemory(BenchContext& ctx);
std::vector<Result> RunStartup(BenchContext& ctx);
std::vector<Result> RunHealthE2e(BenchContext& ctx);

// Runs scenarios of InterleavableScenarios() as one loop in which each
// worker issues one operation of each in turn (see RunInterleavedLoop). One
// row per scenario, in the order given, each marked "interleaved".
std::vector<Result> RunInterleaved(BenchContext& ctx, const std::vector<std::string>& scenarios);

}  // namespace deviceapi::bench
