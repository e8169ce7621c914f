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
};

Result RunClosedLoop(const LoopSpec& spec, const WorkerFactory& factory);

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
