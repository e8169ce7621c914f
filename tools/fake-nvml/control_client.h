#pragma once
// Client side of the fake NVML control socket, header-only so tests and
// fake-nvml-ctl share it. Sends one JSON line, returns the reply line
// (without the newline), or "error: ..." when the socket cannot be reached.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace fakenvml {

inline std::string SendControl(const std::string& socket_path, const std::string& json_line) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof addr.sun_path) return "error: socket path too long";
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("error: socket: ") + strerror(errno);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string e = std::string("error: cannot connect to ") + socket_path + ": " + strerror(errno);
    close(fd);
    return e;
  }
  std::string line = json_line + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    close(fd);
    return "error: write failed";
  }
  std::string reply;
  char buf[4096];
  while (reply.find('\n') == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (auto nl = reply.find('\n'); nl != std::string::npos) reply.resize(nl);
  if (reply.empty()) return "error: no reply";
  return reply;
}

}  // namespace fakenvml
