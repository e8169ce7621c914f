// Fuzzes the admin HTTP server's request handling (src/base/http_server.h:
// request-line and header parsing, framing of pipelined requests, bodies and
// their limits), the listener of /healthz, /readyz and /metrics.
//
// Input: the bytes a client sends on one connection. The server runs on
// 127.0.0.1 for the whole run; each input is written on a new connection,
// whose sending side is then closed, and the server's answers are read until
// it closes the connection. A server that never closes it hangs the input
// (libFuzzer's -timeout reports it).
//
// Oracles, besides sanitizers: every answer starts with a status line, and
// a handler sees only requests with a method and a path that starts with '/'.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "base/http_server.h"

namespace {

using deviceapi::base::HttpRequest;
using deviceapi::base::HttpResponse;
using deviceapi::base::HttpServer;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

HttpServer& Server() {
  static HttpServer* server = [] {
    auto* s = new HttpServer(
        [](const HttpRequest& req) {
          if (req.method.empty()) Fail("handler got a request without a method");
          if (req.path.empty() || req.path[0] != '/') Fail("handler got a path without '/': " + req.path);
          HttpResponse res;
          res.body = req.HasParam("verbose") ? "ok: " + req.path + "\n" : "ok\n";
          if (req.path == "/throw") throw std::runtime_error("handler failed");
          return res;
        });
    const std::string error = s->Start({"127.0.0.1", 0});
    if (!error.empty()) Fail(error);
    return s;
  }();
  return *server;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  HttpServer& server = Server();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket");
  // This side closes first, so each connection leaves a TIME_WAIT for a
  // minute; at thousands of inputs a second one source address runs out of
  // ephemeral ports (connect: EADDRNOTAVAIL). Any 127/8 address is loopback:
  // each input comes from the next of 65536 of them.
  static std::uint32_t next_source = 0;
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl(0x7f010000u | (next_source++ & 0xffffu));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0)
    Fail(std::string("bind: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(server.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    // A signal (libFuzzer's timers) may interrupt it; the connection then
    // completes on its own: wait for it and take its result.
    if (errno != EINTR) Fail(std::string("connect: ") + std::strerror(errno));
    pollfd p{fd, POLLOUT, 0};
    while (::poll(&p, 1, 5000) < 0 && errno == EINTR) {
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) Fail(std::string("connect: ") + std::strerror(err));
  }
  // The server reads at most 64 KiB of body and 16 KiB of head before it
  // answers and closes, so a write of a 4 KiB input never blocks for long;
  // a reset (the server closed first) ends the write.
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!answer.empty() && answer.rfind("HTTP/1.1 ", 0) != 0) Fail("answer without a status line: " + answer);
  return 0;
}
