// UnixSocketFile: directory creation, stale and live sockets, removal.
#include "server/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

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
