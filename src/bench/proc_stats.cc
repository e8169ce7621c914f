#include "bench/proc_stats.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "bench/latency.h"

namespace deviceapi::bench {

ProcSnapshot ReadProc(int pid) {
  ProcSnapshot s;
  if (pid <= 0) return s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    auto kib = [&](const char* key) {
      return std::stod(line.substr(std::string(key).size())) / 1024.0;
    };
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mib = kib("VmRSS:");
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_mib = kib("VmHWM:");
    if (line.rfind("RssAnon:", 0) == 0) s.anon_mib = kib("RssAnon:");
    if (line.rfind("RssFile:", 0) == 0) s.file_mib = kib("RssFile:");
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name may hold spaces: fields are counted after its ')'.
  auto paren = all.rfind(')');
  if (paren == std::string::npos) return s;
  std::istringstream rest(all.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  s.ok = s.rss_mib > 0;
  return s;
}

void ProcSampler::Start() {
  if (pid_ <= 0) return;
  auto s = ReadProc(pid_);
  cpu_begin_ = s.cpu_seconds;
  peak_rss_mib_ = s.rss_mib;
  start_ns_ = NowNs();
  stop_ = false;
  thread_ = std::thread([this] {
    while (!stop_) {
      auto now = ReadProc(pid_);
      if (now.rss_mib > peak_rss_mib_) peak_rss_mib_ = now.rss_mib;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

void ProcSampler::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
  auto s = ReadProc(pid_);
  cpu_end_ = s.cpu_seconds;
  end_rss_mib_ = s.rss_mib;
  if (s.rss_mib > peak_rss_mib_) peak_rss_mib_ = s.rss_mib;
  wall_s_ = static_cast<double>(NowNs() - start_ns_) / 1e9;
}

}  // namespace deviceapi::bench
