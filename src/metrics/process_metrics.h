// The standard Prometheus process metrics, read from /proc at scrape time
// (Linux), with the names every Prometheus client library uses:
//   process_cpu_seconds_total        user + system CPU time
//   process_resident_memory_bytes    resident set size
//   process_virtual_memory_bytes     virtual memory size
//   process_open_fds                 open file descriptors
//   process_max_fds                  RLIMIT_NOFILE soft limit
//   process_start_time_seconds       start time, seconds since the Unix epoch
//   process_threads                  OS threads
// A value that cannot be read is reported as NaN rather than failing the scrape.
#pragma once

namespace deviceapi::metrics {

class Registry;

// Registers the families above. std::invalid_argument if already registered.
void RegisterProcessMetrics(Registry& registry);

// What process_start_time_seconds reports: the boot time read from
// `proc_stat` (its btime line; where that file cannot be read, as under
// systemd's ProcSubset=pid, the realtime clock minus the boot-time clock) plus
// the start offset of /proc/self/stat. The path is a parameter for tests only.
double ProcessStartTimeSeconds(const char* proc_stat = "/proc/stat");

}  // namespace deviceapi::metrics
