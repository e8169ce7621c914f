#include "bench/closed_loop.h"

#include <unistd.h>

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

Result RunClosedLoop(const LoopSpec& spec, const WorkerFactory& factory) {
  Result r;
  r.scenario = spec.scenario;
  r.op = spec.op;
  r.concurrency = spec.concurrency;

  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<std::uint64_t> ops{0}, errors{0}, issued{0};
  std::mutex mu;
  std::string first_error;
  std::vector<LatencyRecorder> recorders(static_cast<std::size_t>(spec.concurrency));
  std::vector<std::thread> threads;

  for (int w = 0; w < spec.concurrency; ++w) {
    threads.emplace_back([&, w] {
      Operation op = factory(w);
      auto& rec = recorders[static_cast<std::size_t>(w)];
      std::uint64_t seq = 0;
      auto next = Clock::now();
      auto interval = spec.per_worker_rate > 0
                          ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / spec.per_worker_rate))
                          : std::chrono::nanoseconds(0);
      std::string error;
      while (!stop.load(std::memory_order_relaxed)) {
        if (interval.count() > 0) {
          std::this_thread::sleep_until(next);
          next += interval;
        }
        bool measured = measuring.load(std::memory_order_relaxed);
        if (measured && spec.requests > 0 &&
            issued.fetch_add(1, std::memory_order_relaxed) >= spec.requests) {
          break;
        }
        std::int64_t latency = -1;
        std::int64_t t0 = NowNs();
        bool ok = op(++seq, &error, &latency);
        std::int64_t t1 = NowNs();
        if (!measured) continue;
        if (ok) {
          rec.Add(latency >= 0 ? latency : t1 - t0);
          ops.fetch_add(1, std::memory_order_relaxed);
        } else {
          errors.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.empty()) first_error = error;
        }
      }
    });
  }

  auto start = Clock::now();
  auto warm_end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.warmup_s));
  std::this_thread::sleep_until(warm_end);
  auto m_start = Clock::now();
  measuring = true;
  Progress progress(spec.progress, spec.scenario, spec.requests > 0 ? 1e9 : spec.duration_s);
  while (true) {
    auto now = Clock::now();
    double elapsed = std::chrono::duration<double>(now - m_start).count();
    if (spec.requests > 0) {
      if (ops + errors >= spec.requests) break;
    } else if (elapsed >= spec.duration_s) {
      break;
    }
    progress.Update(elapsed, ops, errors);
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
  r.seconds = std::chrono::duration<double>(Clock::now() - m_start).count();
  LatencyRecorder all;
  for (auto& rec : recorders) all.Merge(rec);
  r.latency = all.Summarize();
  r.ops = ops;
  r.errors = errors;
  r.first_error = first_error;
  return r;
}

}  // namespace deviceapi::bench
