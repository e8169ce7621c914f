// The API's Unix socket: permissions and group, a stale socket replaced, a
// live one never stolen, removal at shutdown.
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>

#include "test_support.h"

namespace deviceapi::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;

// A group the test user may chgrp to: a supplementary group when there is
// one (so the check is not trivially the primary group), else the primary.
gid_t SomeGroupOfMine() {
  gid_t groups[64];
  int n = getgroups(64, groups);
  for (int i = 0; i < n; ++i) {
    if (groups[i] != getegid()) return groups[i];
  }
  return getegid();
}

// Leaves a socket file nobody listens on, as a SIGKILLed server does.
void MakeStaleSocket(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  ASSERT_EQ(listen(fd, 1), 0);
  close(fd);
}

TEST(UnixSocket, DirectoryAndSocketPermissionsAndGroup) {
  TempDir dir;
  auto sock = dir.File("run/nvidia-device-api/api.sock");  // both directories missing
  gid_t gid = SomeGroupOfMine();
  auto s = StartServer(sock, {"--socket-group=" + std::to_string(gid)});
  ASSERT_TRUE(s) << s.process->Stderr();

  struct stat st {};
  ASSERT_EQ(stat(dir.File("run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(stat(dir.File("run/nvidia-device-api").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, gid);

  EXPECT_TRUE(WaitForHealth(UnixChannel(sock), HealthCheckResponse::SERVING));
  s.process->Signal(SIGTERM);
  EXPECT_EQ(s.process->Wait(std::chrono::seconds(10)).code, 0);
  EXPECT_NE(lstat(sock.c_str(), &st), 0) << "socket file removed at shutdown";
  EXPECT_EQ(stat(dir.File("run/nvidia-device-api").c_str(), &st), 0) << "directory kept";
}

TEST(UnixSocket, GroupByName) {
  TempDir dir;
  group* g = getgrgid(SomeGroupOfMine());
  if (g == nullptr) GTEST_SKIP() << "no name for my group";
  std::string name = g->gr_name;
  auto s = StartServer(dir.File("api.sock"), {"--socket-group=" + name});
  ASSERT_TRUE(s) << s.process->Stderr();
  struct stat st {};
  ASSERT_EQ(lstat(s.socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, g->gr_gid);
}

TEST(UnixSocket, StaleSocketIsReplaced) {
  TempDir dir;
  auto sock = dir.File("api.sock");
  MakeStaleSocket(sock);
  auto s = StartServer(sock);
  ASSERT_TRUE(s) << s.process->Stderr();
  EXPECT_TRUE(WaitForHealth(UnixChannel(sock), HealthCheckResponse::SERVING));
  EXPECT_TRUE(ListGpus(UnixChannel(sock)).ok());
}

TEST(UnixSocket, StaleAfterKillIsReplaced) {
  TempDir dir;
  auto sock = dir.File("api.sock");
  {
    auto first = StartServer(sock);
    ASSERT_TRUE(first) << first.process->Stderr();
    first.process->Signal(SIGKILL);
    first.process->Wait(std::chrono::seconds(5));
  }
  struct stat st {};
  ASSERT_EQ(lstat(sock.c_str(), &st), 0) << "SIGKILL leaves the socket behind";
  auto second = StartServer(sock);
  ASSERT_TRUE(second) << second.process->Stderr();
  EXPECT_TRUE(WaitForHealth(UnixChannel(sock), HealthCheckResponse::SERVING));
}

TEST(UnixSocket, LiveSocketIsNotStolen) {
  TempDir dir;
  auto sock = dir.File("api.sock");
  auto first = StartServer(sock);
  ASSERT_TRUE(first) << first.process->Stderr();
  ASSERT_TRUE(CreateGpu(UnixChannel(sock), "gpu-0").ok());
  struct stat before {};
  ASSERT_EQ(lstat(sock.c_str(), &before), 0);

  ExitResult second = RunToExit(BaseArgs(sock));
  EXPECT_EQ(second.code, 2) << second.err;
  auto lines = Lines(second.err);
  ASSERT_EQ(lines.size(), 1u) << second.err;
  EXPECT_NE(lines[0].find("another server is running on this socket"), std::string::npos) << lines[0];

  // The first server still owns the socket and still has its data.
  struct stat after {};
  ASSERT_EQ(lstat(sock.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  v1::ListGpusResponse list;
  ASSERT_TRUE(ListGpus(UnixChannel(sock), &list).ok());
  EXPECT_EQ(list.gpu_list().items_size(), 1);
}

// S35: two servers started at the same instant on one path. A check-then-bind
// lets both pass the check; the advisory lock next to the socket lets exactly
// one through, every time, and the other exits 2 with one line.
TEST(UnixSocket, TwoServersStartedAtOnceExactlyOneServesS35) {
  constexpr int kTrials = 20;
  for (int trial = 0; trial < kTrials; ++trial) {
    TempDir dir;
    const std::string sock = dir.File("api.sock");
    ServerProcess a(BaseArgs(sock)), b(BaseArgs(sock));
    ServerProcess* both[] = {&a, &b};
    int serving = 0, refused = 0;
    for (ServerProcess* p : both) {
      if (p->WaitStarted()) {
        ++serving;
        continue;
      }
      ExitResult r = p->Wait(std::chrono::seconds(5));
      auto lines = Lines(r.err);
      EXPECT_EQ(r.code, 2) << "trial " << trial << ": " << r.err;
      ASSERT_EQ(lines.size(), 1u) << "trial " << trial << ": " << r.err;
      EXPECT_NE(lines[0].find("another server"), std::string::npos) << lines[0];
      ++refused;
    }
    ASSERT_EQ(serving, 1) << "trial " << trial << ": " << a.Stderr() << "\n---\n" << b.Stderr();
    ASSERT_EQ(refused, 1) << "trial " << trial;
    EXPECT_TRUE(ListGpus(UnixChannel(sock)).ok()) << "trial " << trial;
  }
}

// The lock outlives nothing: after the holder exits (even SIGKILL) the next
// server takes it, and the lock file itself is never a reason to refuse.
TEST(UnixSocket, LockIsReleasedWhenTheHolderDiesS35) {
  TempDir dir;
  const std::string sock = dir.File("api.sock");
  {
    auto first = StartServer(sock);
    ASSERT_TRUE(first) << first.process->Stderr();
    struct stat st {};
    EXPECT_EQ(stat((sock + ".lock").c_str(), &st), 0) << "lock file next to the socket";
    first.process->Signal(SIGKILL);
    first.process->Wait(std::chrono::seconds(5));
  }
  auto second = StartServer(sock);
  ASSERT_TRUE(second) << second.process->Stderr();
  EXPECT_TRUE(ListGpus(UnixChannel(sock)).ok());
}

}  // namespace
}  // namespace deviceapi::testing
