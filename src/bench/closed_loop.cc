#include "bench/closed_loop.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

namespace deviceapi::bench {

Progress::Progress(bool enabled, std::string label, double total_s)
    : enabled_(enabled && total_s > 3 && isatty(STDERR_FILENO)),
      label_(std::move(label)),
      total_s_(total_s) {}

Progress::~Progress() {
  if (enabled_) std::fprintf(stderr, "\r\033[K");
}

void Progress::Update(double elapsed_s, std::uint64_t ops, std::uint64_t errors) {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K%s %5.1f/%.1f s  %llu ops  %llu errors", label_.c_str(), elapsed_s,
               total_s_, static_cast<unsigned long long>(ops),
               static_cast<unsigned long long>(errors));
  std::fflush(stderr);
}

namespace {

// What one part of a loop counted.
struct PartCounters {
  std::atomic<std::uint64_t> ops{0}, errors{0};
  std::mutex mu;
  std::string first_error;
};

std::vector<Result> RunLoop(const LoopSpec& spec, const std::vector<LoopPart>& parts) {
  const std::size_t k = parts.size();
  const auto workers = static_cast<std::size_t>(spec.concurrency);
  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<std::uint64_t> issued{0}, done{0};
  std::vector<PartCounters> counters(k);
  // recorders[w * k + i]: worker w's samples of part i.
  std::vector<LatencyRecorder> recorders(workers * k);
  std::vector<std::thread> threads;
  const std::int64_t loop_start = NowNs();
  const auto slice_ns = std::max<std::int64_t>(1, static_cast<std::int64_t>(spec.slice_s * 1e9));
  // The part whose slice of time it is: every worker runs the same one.
  auto part_now = [&] {
    return k == 1 ? std::size_t{0} : static_cast<std::size_t>((NowNs() - loop_start) / slice_ns) % k;
  };

  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      std::vector<Operation> ops;
      for (const auto& part : parts) ops.push_back(part.factory(static_cast<int>(w)));
      std::vector<std::uint64_t> seq(k, 0);
      auto next = Clock::now();
      auto interval = spec.per_worker_rate > 0
                          ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / spec.per_worker_rate))
                          : std::chrono::nanoseconds(0);
      std::string error;
      std::size_t last_turn = k;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::size_t turn = part_now();
        // The first call of a slice overlaps what the previous part's last
        // call left running (its clean-up on the server): not counted.
        const bool first_of_slice = k > 1 && turn != last_turn;
        last_turn = turn;
        if (interval.count() > 0) {
          std::this_thread::sleep_until(next);
          next += interval;
        }
        bool measured = measuring.load(std::memory_order_relaxed) && !first_of_slice;
        if (measured && spec.requests > 0 &&
            issued.fetch_add(1, std::memory_order_relaxed) >= spec.requests) {
          break;
        }
        std::int64_t latency = -1;
        std::int64_t t0 = NowNs();
        bool ok = ops[turn](++seq[turn], &error, &latency);
        std::int64_t t1 = NowNs();
        if (!measured) continue;
        auto& c = counters[turn];
        if (ok) {
          recorders[w * k + turn].Add(latency >= 0 ? latency : t1 - t0);
          c.ops.fetch_add(1, std::memory_order_relaxed);
        } else {
          c.errors.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> lock(c.mu);
          if (c.first_error.empty()) c.first_error = error;
        }
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  auto start = Clock::now();
  auto warm_end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.warmup_s));
  std::this_thread::sleep_until(warm_end);
  auto m_start = Clock::now();
  measuring = true;
  Progress progress(spec.progress, k == 1 ? parts.front().scenario : "interleaved",
                    spec.requests > 0 ? 1e9 : spec.duration_s);
  while (true) {
    auto now = Clock::now();
    double elapsed = std::chrono::duration<double>(now - m_start).count();
    if (spec.requests > 0) {
      if (done.load() >= spec.requests) break;
    } else if (elapsed >= spec.duration_s) {
      break;
    }
    std::uint64_t errors = 0;
    for (auto& c : counters) errors += c.errors.load();
    progress.Update(elapsed, done.load() - errors, errors);
    std::this_thread::sleep_for(std::chrono::milliseconds(spec.requests > 0 ? 1 : 20));
    if (spec.requests == 0 && elapsed + 0.02 > spec.duration_s) {
      std::this_thread::sleep_until(m_start + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(spec.duration_s)));
      break;
    }
  }
  // Operations still in flight when the clock stops count, as in any closed
  // loop; their completion is what ends each worker.
  stop = true;
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - m_start).count();
  std::vector<Result> results;
  for (std::size_t i = 0; i < k; ++i) {
    Result r;
    r.scenario = parts[i].scenario;
    r.op = parts[i].op;
    r.concurrency = spec.concurrency;
    LatencyRecorder all;
    for (std::size_t w = 0; w < workers; ++w) all.Merge(recorders[w * k + i]);
    r.latency = all.Summarize();
    r.ops = counters[i].ops;
    r.errors = counters[i].errors;
    r.first_error = counters[i].first_error;
    r.seconds = k == 1 ? wall : r.latency.mean_ms * static_cast<double>(r.latency.count) / 1e3 / spec.concurrency;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

Result RunClosedLoop(const LoopSpec& spec, const WorkerFactory& factory) {
  return RunLoop(spec, {{spec.scenario, spec.op, factory}}).front();
}

std::vector<Result> RunInterleavedLoop(const LoopSpec& timing, const std::vector<LoopPart>& parts) {
  return RunLoop(timing, parts);
}

}  // namespace deviceapi::bench
