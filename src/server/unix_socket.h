// The API's Unix socket file: made safe to bind, locked down once bound, and
// removed at exit.
//
// Before bind: missing parent directories are created 0750; an advisory lock
// (flock) on "<path>.lock" is taken and held for the life of this object, so
// of two servers started at the same instant on one path exactly one passes
// (the other is told "another server ..."); a check-then-bind alone lets both
// through. The lock file is left in place at exit: unlinking it would let a
// third server lock a new file while the second still holds the old one. The
// kernel drops the lock when the process dies, even by SIGKILL. A socket file left
// by a killed server (connect() answers ECONNREFUSED) is removed; a socket a
// live server still accepts on is never taken over, and a path that exists but
// is not a socket is never deleted. gRPC itself would silently unlink any
// existing socket, so these checks must run first.
//
// Bind: Listen() here (the server accepts its connections itself,
// guarded_listener.h). After bind: mode 0660 and, when configured, the
// socket group.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace deviceapi::server {

class UnixSocketFile {
 public:
  explicit UnixSocketFile(std::string path) : path_(std::move(path)) {}
  ~UnixSocketFile();
  UnixSocketFile(const UnixSocketFile&) = delete;
  UnixSocketFile& operator=(const UnixSocketFile&) = delete;

  // Readies the path for bind(). False with a one-line reason otherwise.
  bool Prepare(std::string* error);

  // Binds and listens on the path (after Prepare): a non-blocking,
  // close-on-exec socket, mode 0660 from its first instant (a umask during
  // bind). Returns the listening descriptor, or -1 with a one-line reason.
  int Listen(std::string* error);

  // After bind(): chmod 0660, chgrp `gid`, and remember the file's identity so
  // that Remove() never deletes a socket another process bound later.
  bool Secure(std::optional<gid_t> gid, std::string* error);

  // Unlinks the socket if it is still the one Secure() saw. Idempotent.
  void Remove();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int lock_fd_ = -1;
  bool bound_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace deviceapi::server
