// A server out of file descriptors (a container's low limit): the listener
// cannot accept a pending connection, and the listening socket stays
// readable. It must neither spin on it nor stop serving: the connections it
// has keep working, and the pending one is accepted once descriptors are
// free again (S32).
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace deviceapi::testing {
namespace {

using namespace std::chrono_literals;

// The lowest descriptor number the process has free: with the limit there,
// no descriptor can be opened.
int LowestFreeFd(pid_t pid) {
  std::vector<bool> used;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const auto n = static_cast<std::size_t>(std::atoi(e->d_name));
    if (n >= used.size()) used.resize(n + 1);
    used[n] = true;
  }
  closedir(d);
  return static_cast<int>(std::find(used.begin(), used.end(), false) - used.begin());
}

// User plus system CPU time of the process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // after "(comm) "
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// S32
TEST(FdLimit, OutOfDescriptorsTheListenerWaitsInsteadOfSpinningS32) {
  TempDir dir;
  const std::string socket = dir.File("api.sock");
  RunningServer s = StartServer(socket);
  ASSERT_TRUE(s);
  auto served = UnixChannel(socket);  // connected before the limit
  ASSERT_TRUE(ListGpus(served).ok());
  const pid_t pid = s.process->pid();

  // No descriptor number left below the limit.
  rlimit before{};
  ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, nullptr, &before), 0);
  rlimit tight = before;
  tight.rlim_cur = static_cast<rlim_t>(LowestFreeFd(pid));
  ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, &tight, nullptr), 0);
  std::vector<int> pending;
  for (int i = 0; i < 4; ++i) {
    const int fd = ConnectUnix(socket);
    ASSERT_GE(fd, 0);
    pending.push_back(fd);
  }
  std::this_thread::sleep_for(300ms);

  const double cpu0 = CpuSeconds(pid);
  std::this_thread::sleep_for(1s);
  const double cpu = CpuSeconds(pid) - cpu0;
  EXPECT_LT(cpu, 0.25) << "the listener spun on a connection it cannot accept";
  EXPECT_TRUE(ListGpus(served).ok()) << "an established client is still served";

  ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, &before, nullptr), 0);
  for (int fd : pending) close(fd);
  auto fresh = UnixChannel(socket);
  EXPECT_TRUE(ListGpus(fresh).ok()) << "a new client is accepted once descriptors are free";
  EXPECT_TRUE(s.process->WaitForLog("out of file descriptors", 1s)) << s.process->Stderr();
}

}  // namespace
}  // namespace deviceapi::testing
