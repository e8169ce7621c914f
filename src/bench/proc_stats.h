// Resource use of another process, read from /proc/<pid>: resident memory
// and CPU time. Used with --server-pid to report what the server spent while
// a scenario ran.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

namespace deviceapi::bench {

struct ProcSnapshot {
  bool ok = false;
  double rss_mib = 0;       // VmRSS
  double hwm_mib = 0;       // VmHWM: peak RSS since the process started
  // VmRSS split: private/anonymous memory (heap, stacks) and file-backed
  // pages (mostly shared-library code, shared with every process using it).
  double anon_mib = 0;      // RssAnon
  double file_mib = 0;      // RssFile
  double cpu_seconds = 0;   // utime + stime
};

ProcSnapshot ReadProc(int pid);

// Samples RSS every 50 ms on its own thread between Start() and Stop().
class ProcSampler {
 public:
  explicit ProcSampler(int pid) : pid_(pid) {}
  ~ProcSampler() { Stop(); }
  void Start();
  void Stop();
  bool enabled() const { return pid_ > 0; }
  double peak_rss_mib() const { return peak_rss_mib_; }
  double cpu_seconds() const { return cpu_end_ - cpu_begin_; }
  double wall_seconds() const { return wall_s_; }
  // Server CPU over the sampled interval, in percent of one core.
  double cpu_percent() const { return wall_s_ > 0 ? 100.0 * cpu_seconds() / wall_s_ : 0; }
  double end_rss_mib() const { return end_rss_mib_; }

 private:
  int pid_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  double peak_rss_mib_ = 0, end_rss_mib_ = 0, cpu_begin_ = 0, cpu_end_ = 0, wall_s_ = 0;
  std::int64_t start_ns_ = 0;
};

}  // namespace deviceapi::bench
