#include "server/tcp_bind_check.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace deviceapi::server {

using base::TcpAddress;
namespace {

// 0 on success, else errno.
int TryBind(int family, const sockaddr* addr, socklen_t len) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  int rc = bind(fd, addr, len) == 0 ? 0 : errno;
  if (rc == 0 && listen(fd, 1) != 0) rc = errno;
  close(fd);
  return rc;
}

}  // namespace

bool CheckTcpBindable(const TcpAddress& address, std::string* error) {
  if (address.port == 0) return true;
  if (address.host.empty()) {
    // Wildcard: dual-stack IPv6 when the kernel has it, else IPv4 (as gRPC does).
    sockaddr_in6 a6{};
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    a6.sin6_port = htons(address.port);
    int rc = TryBind(AF_INET6, reinterpret_cast<sockaddr*>(&a6), sizeof a6);
    if (rc == EAFNOSUPPORT || rc == EADDRNOTAVAIL) {
      sockaddr_in a4{};
      a4.sin_family = AF_INET;
      a4.sin_addr.s_addr = htonl(INADDR_ANY);
      a4.sin_port = htons(address.port);
      rc = TryBind(AF_INET, reinterpret_cast<sockaddr*>(&a4), sizeof a4);
    }
    if (rc != 0) *error = std::strerror(rc);
    return rc == 0;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(address.port);
  int gai = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    *error = std::string("cannot resolve host: ") + gai_strerror(gai);
    return false;
  }
  int last = EADDRNOTAVAIL;
  bool any = false;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int rc = TryBind(ai->ai_family, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0) {
      any = true;
    } else if (rc == EADDRNOTAVAIL || rc == EAFNOSUPPORT) {
      last = rc;  // e.g. ::1 on a host without IPv6; gRPC skips it as well
    } else {
      freeaddrinfo(res);
      *error = std::strerror(rc);
      return false;
    }
  }
  freeaddrinfo(res);
  if (!any) *error = std::strerror(last);
  return any;
}

}  // namespace deviceapi::server
