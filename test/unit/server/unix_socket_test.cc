// UnixSocketFile: directory creation, stale and live sockets, removal.
#include "server/unix_socket.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace deviceapi::server {
namespace {

class UnixSocketFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/das-us-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Binds `path`; listening when `listen_too`, else closed at once (stale).
  int Bind(const std::string& path, bool listen_too) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    if (listen_too) {
      EXPECT_EQ(listen(fd, 4), 0);
      return fd;
    }
    close(fd);
    return -1;
  }

  std::string dir_;
};

TEST_F(UnixSocketFileTest, CreatesMissingDirectories0750) {
  UnixSocketFile file(dir_ + "/a/b/api.sock");
  std::string error;
  ASSERT_TRUE(file.Prepare(&error)) << error;
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(stat((dir_ + "/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_F(UnixSocketFileTest, StaleSocketRemoved) {
  std::string path = dir_ + "/api.sock";
  Bind(path, false);
  UnixSocketFile file(path);
  std::string error;
  ASSERT_TRUE(file.Prepare(&error)) << error;
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST_F(UnixSocketFileTest, LiveSocketKept) {
  std::string path = dir_ + "/api.sock";
  int fd = Bind(path, true);
  UnixSocketFile file(path);
  std::string error;
  EXPECT_FALSE(file.Prepare(&error));
  EXPECT_NE(error.find("another server is listening"), std::string::npos) << error;
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
  close(fd);
}

TEST_F(UnixSocketFileTest, RegularFileNeverDeleted) {
  std::string path = dir_ + "/api.sock";
  std::ofstream(path) << "precious";
  UnixSocketFile file(path);
  std::string error;
  EXPECT_FALSE(file.Prepare(&error));
  EXPECT_NE(error.find("not a socket"), std::string::npos);
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
}

TEST_F(UnixSocketFileTest, SecureSetsModeAndGroupAndRemoveUnlinks) {
  std::string path = dir_ + "/api.sock";
  UnixSocketFile file(path);
  std::string error;
  ASSERT_TRUE(file.Prepare(&error));
  int fd = Bind(path, true);
  ASSERT_TRUE(file.Secure(getegid(), &error)) << error;
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, getegid());
  file.Remove();
  EXPECT_NE(access(path.c_str(), F_OK), 0);
  close(fd);
}

// Installs a filter that fails chown, fchown, lchown and fchownat with EPERM, as systemd's
// SystemCallFilter=~@privileged does. Irreversible: only in a forked child.
bool DenyChown() {
  std::vector<sock_filter> f = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr))};
  for (int nr : {SYS_chown, SYS_fchown, SYS_lchown, SYS_fchownat}) {
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
  }
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// The systemd unit's filter refuses chown; a socket that has the configured group from its
// creation (the service's own group) must not need one, or the server cannot start there.
TEST_F(UnixSocketFileTest, SocketGroupThatIsAlreadyTheOwnNeedsNoChown) {
  const std::string path = dir_ + "/api.sock";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!DenyChown()) _exit(10);
    if (chown(dir_.c_str(), static_cast<uid_t>(-1), getegid()) == 0 || errno != EPERM) _exit(11);
    UnixSocketFile file(path);
    std::string error;
    if (!file.Prepare(&error)) _exit(12);
    const int fd = Bind(path, true);
    if (!file.Secure(getegid(), &error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      _exit(13);
    }
    // Another group still needs the chown, and its refusal is reported.
    if (file.Secure(getegid() + 1, &error) || error.find("Operation not permitted") == std::string::npos) _exit(14);
    close(fd);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no seccomp, 11: filter not applied, 13: Secure called chown";
}

TEST_F(UnixSocketFileTest, RemoveLeavesAReplacementAlone) {
  std::string path = dir_ + "/api.sock";
  UnixSocketFile file(path);
  std::string error;
  ASSERT_TRUE(file.Prepare(&error));
  int fd1 = Bind(path, true);
  ASSERT_TRUE(file.Secure(std::nullopt, &error));
  // Someone else's socket now sits at the path (e.g. a newer server).
  ASSERT_EQ(unlink(path.c_str()), 0);
  int fd2 = Bind(path, true);
  file.Remove();
  EXPECT_EQ(access(path.c_str(), F_OK), 0) << "not ours any more: kept";
  close(fd1);
  close(fd2);
}

}  // namespace
}  // namespace deviceapi::server
