// A minimal blocking HTTP/1.1 client for tests: one request per connection
// ("Connection: close"), the response read to EOF. Header-only; test code
// only. Tests talk to the admin endpoints with it so that no HTTP library is
// needed anywhere in the project.
#pragma once

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace deviceapi::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string Header(std::string name) const {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Connects to host:port (numeric or a name) within `timeout`; -1 on failure.
// `rcvbuf` > 0 sets SO_RCVBUF first (a client that reads slowly, or never).
inline int HttpConnect(const std::string& host, int port, std::chrono::milliseconds timeout, int rcvbuf = 0) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof(err);
      if (errno != EINPROGRESS || ::poll(&p, 1, static_cast<int>(timeout.count())) != 1 ||
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        ::close(fd);
        fd = -1;
      }
    }
  }
  freeaddrinfo(found);
  return fd;
}

// Sends `method path` (with `body` when not empty) and reads the whole
// response; nullopt when the connection fails or the response does not
// complete within `timeout`.
inline std::optional<HttpResult> HttpRequest(const std::string& host, int port, const std::string& method,
                                             const std::string& path, const std::string& body = "",
                                             std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<long long>(0, ms.count()));
  };
  int fd = HttpConnect(host, port, timeout);
  if (fd < 0) return std::nullopt;
  std::string out = method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  if (!body.empty()) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n" + body;
  std::string in;
  bool ok = true;
  for (std::size_t sent = 0; ok && sent < out.size();) {
    pollfd p{fd, POLLOUT, 0};
    ssize_t n = ::poll(&p, 1, left()) == 1 ? ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL) : -1;
    if (n <= 0) ok = false;
    else sent += static_cast<std::size_t>(n);
  }
  while (ok) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left()) != 1) {
      ok = false;
      break;
    }
    char buf[8192];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0) ok = false;
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t head_end = in.find("\r\n\r\n");
  if (!ok || in.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || in.size() < 12) return std::nullopt;
  HttpResult r;
  r.status = std::stoi(in.substr(9, 3));
  std::size_t line = in.find("\r\n") + 2;
  while (line < head_end) {
    std::size_t eol = in.find("\r\n", line);
    std::string field = in.substr(line, eol - line);
    line = eol + 2;
    std::size_t colon = field.find(':');
    if (colon == std::string::npos) continue;
    std::string name = field.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::size_t v = field.find_first_not_of(' ', colon + 1);
    r.headers[name] = v == std::string::npos ? "" : field.substr(v);
  }
  r.body = in.substr(head_end + 4);
  return r;
}

inline std::optional<HttpResult> HttpGet(const std::string& host, int port, const std::string& path,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  return HttpRequest(host, port, "GET", path, "", timeout);
}

}  // namespace deviceapi::testing
