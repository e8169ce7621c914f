#include "metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "metrics/registry.h"

namespace deviceapi::metrics {

namespace {

// Fields of /proc/self/stat after the command name, whose parentheses may
// hide spaces: index 0 is field 3 ("state") of proc(5).
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// proc(5) field number (1-based) -> value, NaN when absent.
double StatField(const std::vector<std::string>& fields, std::size_t number) {
  const std::size_t i = number - 3;
  if (i >= fields.size()) return NAN;
  try {
    return std::stod(fields[i]);
  } catch (...) {
    return NAN;
  }
}

double ClockTicks() {
  long t = sysconf(_SC_CLK_TCK);
  return t > 0 ? static_cast<double>(t) : NAN;
}

// Seconds since the epoch at boot: /proc/stat's btime, else what btime is
// computed from, the realtime clock minus the boot-time clock. systemd's
// ProcSubset=pid hides /proc/stat but not /proc/self/stat, whose start offset
// counts on that same boot-time clock.
double BootTime(const char* proc_stat) {
  std::ifstream in(proc_stat);
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double v;
      if (in >> v) return v;
      break;
    }
    in.ignore(1 << 20, '\n');
  }
  timespec real{}, boot{};
  if (clock_gettime(CLOCK_REALTIME, &real) != 0 || clock_gettime(CLOCK_BOOTTIME, &boot) != 0) return NAN;
  return static_cast<double>(real.tv_sec - boot.tv_sec) + static_cast<double>(real.tv_nsec - boot.tv_nsec) / 1e9;
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return NAN;
  double n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

}  // namespace

void RegisterProcessMetrics(Registry& registry) {
  registry.AddCallbackCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", [] {
    auto f = StatFields();
    return (StatField(f, 14) + StatField(f, 15)) / ClockTicks();
  });
  registry.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.", [] {
    return StatField(StatFields(), 24) * static_cast<double>(sysconf(_SC_PAGESIZE));
  });
  registry.AddCallbackGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            [] { return StatField(StatFields(), 23); });
  registry.AddCallbackGauge("process_open_fds", "Number of open file descriptors.", OpenFds);
  registry.AddCallbackGauge("process_max_fds", "Maximum number of open file descriptors.", []() -> double {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return NAN;
    return static_cast<double>(rl.rlim_cur);
  });
  // Fixed for the life of the process: computed once.
  const double start = ProcessStartTimeSeconds();
  registry.AddCallbackGauge("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            [start] { return start; });
  registry.AddCallbackGauge("process_threads", "Number of OS threads in the process.",
                            [] { return StatField(StatFields(), 20); });
}

double ProcessStartTimeSeconds(const char* proc_stat) {
  return BootTime(proc_stat) + StatField(StatFields(), 22) / ClockTicks();
}

}  // namespace deviceapi::metrics
