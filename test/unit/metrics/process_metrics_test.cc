// Process metrics read from /proc: present, valid text, plausible values.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "metrics/process_metrics.h"
#include "metrics/registry.h"
#include "metrics/text_parser.h"

namespace deviceapi::metrics {
namespace {

ParsedExposition Scrape(const Registry& r) {
  ParseResult res = ParseText(r.Serialize());
  EXPECT_TRUE(res.ok) << res.error;
  return res.exposition;
}

TEST(ProcessMetricsTest, PlausibleValues) {
  Registry r;
  RegisterProcessMetrics(r);
  ParsedExposition e = Scrape(r);
  EXPECT_EQ(e.Family("process_cpu_seconds_total")->type, "counter");
  EXPECT_GE(*e.Value("process_cpu_seconds_total"), 0.0);
  EXPECT_GT(*e.Value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(*e.Value("process_virtual_memory_bytes"), *e.Value("process_resident_memory_bytes"));
  EXPECT_GE(*e.Value("process_threads"), 1.0);
  EXPECT_GT(*e.Value("process_max_fds"), 0.0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = *e.Value("process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);

  const double fds = *e.Value("process_open_fds");
  int fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(*Scrape(r).Value("process_open_fds"), fds + 1);
  close(fd);
  EXPECT_EQ(*Scrape(r).Value("process_open_fds"), fds);
  EXPECT_THROW(RegisterProcessMetrics(r), std::invalid_argument);
}

// systemd's ProcSubset=pid (the server's unit) hides /proc/stat, where the
// boot time comes from; /proc/self/stat stays readable. The start time must
// not turn NaN there.
TEST(ProcessMetricsTest, StartTimeWithoutProcStat) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double with = ProcessStartTimeSeconds();
  const double without = ProcessStartTimeSeconds("/nonexistent/proc/stat");
  ASSERT_TRUE(std::isfinite(without));
  EXPECT_LE(without, now + 1);
  EXPECT_GT(without, now - 3600);
  // The same instant, within btime's rounding to whole seconds.
  EXPECT_NEAR(without, with, 1.5);
}

}  // namespace
}  // namespace deviceapi::metrics
