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
  EXPECT_NE(lines[0].find("another server is listening"), std::string::npos) << lines[0];

  // The first server still owns the socket and still has its data.
  struct stat after {};
  ASSERT_EQ(lstat(sock.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  v1::ListGpusResponse list;
  ASSERT_TRUE(ListGpus(UnixChannel(sock), &list).ok());
  EXPECT_EQ(list.gpu_list().items_size(), 1);
}

}  // namespace
}  // namespace deviceapi::testing
