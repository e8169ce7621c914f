#include "server/unix_socket.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace deviceapi::server {
namespace {

std::string Errno(int e) { return std::strerror(e); }

// mkdir -p, with 0750 on each directory it creates (existing ones are left alone).
bool MakeParents(const std::string& path, std::string* error) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return true;
  std::string dir = path.substr(0, slash);
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      *error = "\"" + dir + "\" is not a directory";
      return false;
    }
    return true;
  }
  if (errno != ENOENT) {
    *error = "cannot access \"" + dir + "\": " + Errno(errno);
    return false;
  }
  if (!MakeParents(dir, error)) return false;
  if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    *error = "cannot create directory \"" + dir + "\": " + Errno(errno);
    return false;
  }
  chmod(dir.c_str(), 0750);  // whatever the umask took away
  return true;
}

// 0: nobody listens (stale). 1: a live server accepts. -errno: cannot tell.
int ProbeSocket(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  close(fd);
  if (rc == 0) return 1;
  // A full backlog means someone is listening.
  if (err == EAGAIN) return 1;
  if (err == ECONNREFUSED) return 0;
  return -err;
}

}  // namespace

UnixSocketFile::~UnixSocketFile() {
  Remove();
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
}

bool UnixSocketFile::Prepare(std::string* error) {
  if (!MakeParents(path_, error)) return false;
  const std::string lock_path = path_ + ".lock";
  if (lock_fd_ < 0) {
    lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd_ < 0) {
      *error = "cannot open lock file \"" + lock_path + "\": " + Errno(errno);
      return false;
    }
    if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      close(lock_fd_);
      lock_fd_ = -1;
      *error = err == EWOULDBLOCK ? "another server is running on this socket (it holds \"" + lock_path + "\")"
                                  : "cannot lock \"" + lock_path + "\": " + Errno(err);
      return false;
    }
  }
  auto slash = path_.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    *error = "cannot create the socket in \"" + dir + "\": " + Errno(errno);
    return false;
  }
  struct stat st {};
  if (lstat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    *error = "cannot access socket path: " + Errno(errno);
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = "path exists and is not a socket; refusing to replace it";
    return false;
  }
  int probe = ProbeSocket(path_);
  if (probe == 1) {
    *error = "another server is listening on this socket";
    return false;
  }
  if (probe < 0) {
    *error = "cannot probe existing socket: " + Errno(-probe);
    return false;
  }
  // Stale: left behind by a server that did not exit cleanly.
  if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
    *error = "cannot remove stale socket: " + Errno(errno);
    return false;
  }
  return true;
}

int UnixSocketFile::Listen(std::string* error) {
  sockaddr_un addr{};
  if (path_.size() >= sizeof(addr.sun_path)) {
    *error = "socket path longer than " + std::to_string(sizeof(addr.sun_path) - 1) + " bytes";
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = "cannot create socket: " + Errno(errno);
    return -1;
  }
  const mode_t old_mask = umask(0117);
  const int bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  umask(old_mask);
  if (bound != 0) {
    *error = "cannot bind: " + Errno(bind_errno);
    close(fd);
    return -1;
  }
  if (listen(fd, SOMAXCONN) != 0) {
    *error = "cannot listen: " + Errno(errno);
    close(fd);
    unlink(path_.c_str());
    return -1;
  }
  return fd;
}

bool UnixSocketFile::Secure(std::optional<gid_t> gid, std::string* error) {
  struct stat st {};
  if (lstat(path_.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    *error = "socket file missing after bind";
    return false;
  }
  bound_ = true;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  // A socket created with the wanted group already (the service's own group, as the systemd
  // unit runs it) needs no chown, which a sandbox's system call filter may refuse.
  if (gid && st.st_gid != *gid && chown(path_.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    *error = "cannot set socket group to " + std::to_string(*gid) + ": " + Errno(errno);
    return false;
  }
  if (chmod(path_.c_str(), 0660) != 0) {
    *error = "cannot chmod socket: " + Errno(errno);
    return false;
  }
  return true;
}

void UnixSocketFile::Remove() {
  if (!bound_) return;
  bound_ = false;
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    unlink(path_.c_str());
  }
}

}  // namespace deviceapi::server
