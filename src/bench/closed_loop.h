// Closed-loop load: N workers, each issuing its next operation as soon as
// the previous one returns, first for the warm-up (unmeasured), then for the
// duration or until the request count is reached.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "bench/options.h"
#include "bench/result.h"

namespace deviceapi::bench {

// One operation; false with `error` set when it failed. Called only from its
// worker's thread. An operation that does unmeasured work around the
// measured call (create's clean-up delete) sets `*latency_ns` itself;
// otherwise the whole call is measured.
using Operation =
    std::function<bool(std::uint64_t seq, std::string* error, std::int64_t* latency_ns)>;
// Builds worker `w`'s operation (its own request objects, its own GPUs...).
using WorkerFactory = std::function<Operation(int worker)>;

struct LoopSpec {
  std::string scenario;
  std::string op;
  int concurrency = 1;
  double warmup_s = 0;
  double duration_s = 1;
  std::uint64_t requests = 0;  // > 0 replaces duration_s
  bool progress = false;       // progress line on stderr (a TTY only)
  // Optional per-second pacing of each worker (0: closed loop).
  double per_worker_rate = 0;
  // RunInterleavedLoop: seconds each part runs before the next one's turn.
  double slice_s = 0.025;
};

Result RunClosedLoop(const LoopSpec& spec, const WorkerFactory& factory);

// One scenario's share of an interleaved loop.
struct LoopPart {
  std::string scenario;
  std::string op;
  WorkerFactory factory;
};

// Several scenarios in one closed loop, taking turns in short slices of
// time (`timing.slice_s`): every worker runs the same part during a slice,
// then the next part, round and round. Each part so meets the machine of
// the same moments as the others (their ratios then cancel its drift, which
// on a shared 2-core VM moves a scenario's p50 by a third from one second to
// the next), while its calls still follow calls of its own, as in a run of
// its own: calls of different kinds one after another would each overlap
// the clean-up of the one before, which moves cost from the heavier kind to
// the lighter. A worker's first call of a slice is not counted for that
// reason. `timing` gives the workers, warm-up and duration (or request
// count) of the whole loop; its scenario and op are ignored. One result per
// part, counting only its operations; its `seconds` is the time the workers
// spent in them (their latencies summed, over the concurrency), so its ops/s
// is the rate the operation ran at while it ran.
std::vector<Result> RunInterleavedLoop(const LoopSpec& timing, const std::vector<LoopPart>& parts);

// A progress line on stderr when it is a TTY and the run is long enough.
class Progress {
 public:
  Progress(bool enabled, std::string label, double total_s);
  ~Progress();
  void Update(double elapsed_s, std::uint64_t ops, std::uint64_t errors);

 private:
  bool enabled_;
  std::string label_;
  double total_s_;
};

}  // namespace deviceapi::bench
