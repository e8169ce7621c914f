// HttpServer over real sockets, with raw bytes: what kubelet and Prometheus
// send works; hostile or broken requests get the right status and a closed
// connection, and the server goes on serving.
#include "base/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace deviceapi::base {
namespace {

HttpResponse Echo(const HttpRequest& req) {
  HttpResponse res;
  res.body = req.method + " " + req.path + " verbose=" + (req.HasParam("verbose") ? "yes" : "no");
  return res;
}

// `rcvbuf` > 0 sets SO_RCVBUF first: a client that can take little at once.
int Connect(int port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends until it closes or `timeout` passes.
std::string ReadAll(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(8)) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// One exchange on a fresh connection; the request should end the connection.
std::string Exchange(int port, const std::string& raw) {
  int fd = Connect(port);
  EXPECT_GE(fd, 0);
  if (fd < 0) return "";
  ::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  std::string out = ReadAll(fd);
  ::close(fd);
  return out;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(server_.Start({"127.0.0.1", 0}), ""); }
  HttpServer server_{Echo};
};

TEST_F(HttpServerTest, GetWithQueryAndClose) {
  std::string out = Exchange(server_.port(), "GET /readyz?verbose=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Length: " + std::to_string(std::string("GET /readyz verbose=yes").size()) + "\r\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\n\r\nGET /readyz verbose=yes"), std::string::npos) << out;
}

TEST_F(HttpServerTest, Http10ClosesAndHeadHasNoBody) {
  std::string out = Exchange(server_.port(), "HEAD /x HTTP/1.0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Length: " + std::to_string(std::string("HEAD /x verbose=no").size()) + "\r\n"),
            std::string::npos) << out;
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), "");
}

TEST_F(HttpServerTest, KeepAliveServesPipelinedRequestsInOrder) {
  int fd = Connect(server_.port());
  ASSERT_GE(fd, 0);
  std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ::send(fd, two.data(), two.size(), MSG_NOSIGNAL);
  std::string out = ReadAll(fd);
  ::close(fd);
  auto a = out.find("GET /a verbose=no"), b = out.find("GET /b verbose=no");
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  EXPECT_LT(a, b);
}

TEST_F(HttpServerTest, BodiesAreReadAndDropped) {
  std::string out = Exchange(server_.port(),
                             "POST /p HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  EXPECT_NE(out.find("POST /p verbose=no"), std::string::npos) << out;
}

TEST_F(HttpServerTest, HostileRequestsGetAStatusAndAClosedConnection) {
  const int port = server_.port();
  EXPECT_EQ(Exchange(port, "NONSENSE\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(Exchange(port, "GET / HTTP/9.9\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(Exchange(port, "GET / HTTP/1.1\r\nno colon here\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(Exchange(port, "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(Exchange(port, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                .rfind("HTTP/1.1 411 ", 0),
            0u);
  EXPECT_EQ(Exchange(port, "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n").rfind("HTTP/1.1 413 ", 0), 0u);
  std::string huge = "GET / HTTP/1.1\r\nX-Junk: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_EQ(Exchange(port, huge).rfind("HTTP/1.1 431 ", 0), 0u);
  std::string endless = "GET / HTTP/1.1\r\n" + std::string(40000, 'b');  // never ends its head
  EXPECT_EQ(Exchange(port, endless).rfind("HTTP/1.1 431 ", 0), 0u);
  // A target that is not a path never reaches a handler (found by fuzzing).
  EXPECT_EQ(Exchange(port, "GET ?a HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(Exchange(port, "GET metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  // And it still serves, the absolute form too.
  EXPECT_EQ(Exchange(port, "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200 ", 0), 0u);
  std::string absolute = Exchange(port, "GET http://node:8081/readyz?verbose HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(absolute.find("GET /readyz verbose=yes"), std::string::npos) << absolute;
}

// RFC 9112 6.3 and 5.1: two Content-Lengths that disagree leave the
// request's end unknown (a request smuggled past a proxy that took the other
// one), and whitespace before a field's colon is refused, not trimmed. Both
// answer 400 and close; the same length given twice is still taken.
TEST_F(HttpServerTest, ConflictingContentLengthsAndSpaceBeforeColonAre400) {
  const int port = server_.port();
  std::string conflicting = Exchange(port,
                                     "POST /p HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n"
                                     "helloGET /smuggled HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(conflicting.rfind("HTTP/1.1 400 ", 0), 0u) << conflicting;
  EXPECT_EQ(conflicting.find("smuggled"), std::string::npos) << conflicting;
  std::string reversed = Exchange(port, "POST /p HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(reversed.rfind("HTTP/1.1 400 ", 0), 0u) << reversed;
  std::string space = Exchange(port, "POST /p HTTP/1.1\r\nContent-Length : 5\r\nConnection: close\r\n\r\nhello");
  EXPECT_EQ(space.rfind("HTTP/1.1 400 ", 0), 0u) << space;
  std::string tab = Exchange(port, "GET /p HTTP/1.1\r\nConnection\t: close\r\n\r\n");
  EXPECT_EQ(tab.rfind("HTTP/1.1 400 ", 0), 0u) << tab;
  std::string same = Exchange(port,
                              "POST /p HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
                              "Connection: close\r\n\r\nhello");
  EXPECT_NE(same.find("POST /p verbose=no"), std::string::npos) << same;
}

TEST_F(HttpServerTest, IdleAndSilentConnectionsDoNotHoldWorkersForever) {
  // Two connections that send nothing, then a real request.
  int idle1 = Connect(server_.port()), idle2 = Connect(server_.port());
  ASSERT_GE(idle1, 0);
  ASSERT_GE(idle2, 0);
  const auto t0 = std::chrono::steady_clock::now();
  std::string out = Exchange(server_.port(), "GET /late HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("GET /late"), std::string::npos) << out;
  // Connections that say nothing are dropped after 1 s.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  ::close(idle1);
  ::close(idle2);
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  HttpServer throwing([](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
  ASSERT_EQ(throwing.Start({"127.0.0.1", 0}), "");
  EXPECT_EQ(Exchange(throwing.port(), "GET / HTTP/1.1\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 500 ", 0), 0u);
}

TEST_F(HttpServerTest, StopIsPromptWithASlowClientMidRequest) {
  int fd = Connect(server_.port());
  ASSERT_GE(fd, 0);
  std::string partial = "GET /slow HTTP/1.1\r\nHost";
  ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  server_.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  ::close(fd);
}

TEST(HttpServer, PortInUseIsAnError) {
  HttpServer first(Echo);
  ASSERT_EQ(first.Start({"127.0.0.1", 0}), "");
  HttpServer second(Echo);
  std::string error = second.Start({"127.0.0.1", static_cast<std::uint16_t>(first.port())});
  EXPECT_NE(error.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())), std::string::npos)
      << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}

// True when the server has closed `fd` within `timeout` (EOF or reset).
bool ClosedWithin(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) == 1) {
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
    }
  }
  return false;
}

HttpLimits Short() {
  HttpLimits l;
  l.idle_timeout = std::chrono::milliseconds(300);
  l.request_timeout = std::chrono::milliseconds(600);
  l.write_timeout = std::chrono::milliseconds(600);
  return l;
}

// S32: the deadline covers the whole request, not each read: a client that
// sends one byte every 100 ms never finishes its head and is cut off at
// request_timeout, however steadily it trickles.
TEST(HttpServerLimits, SlowlorisIsCutOffAtTheRequestDeadlineS32) {
  HttpServer server(Echo, Short());
  ASSERT_EQ(server.Start({"127.0.0.1", 0}), "");
  int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  const std::string head = "GET /slow HTTP/1.1\r\nX-Slow: ";
  ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  while (!closed && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)) {
    ::send(fd, "a", 1, MSG_NOSIGNAL);
    closed = ClosedWithin(fd, std::chrono::milliseconds(100));
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(closed);
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  ::close(fd);
}

// S32/S33: a flood of connections from one peer evicts its own oldest
// connections; a new probe from that same peer is still answered.
TEST(HttpServerLimits, PerPeerCapEvictsTheLongestWaitingS33) {
  HttpLimits limits;
  limits.max_connections_per_peer = 3;
  HttpServer server(Echo, limits);
  ASSERT_EQ(server.Start({"127.0.0.1", 0}), "");
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(Connect(server.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::string out = Exchange(server.port(), "GET /probe HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("GET /probe"), std::string::npos) << out;
  EXPECT_TRUE(ClosedWithin(idle[0], std::chrono::milliseconds(500))) << "the oldest made room";
  EXPECT_FALSE(ClosedWithin(idle[2], std::chrono::milliseconds(100))) << "the newest kept";
  for (int fd : idle) ::close(fd);
}

// S32/S33: a probe accepted before its request arrived, whose request then
// waits in its socket while a burst of connections from its own address is
// accepted, is answered, not closed as the oldest idle connection. The loop
// is held in a slow handler so that the burst and the probe's bytes are
// ready together, the listener first (as when the loop is busy on a loaded
// machine).
TEST(HttpServerLimits, CapReadsAWaitingRequestBeforeEvictingItsConnectionS32S33) {
  HttpLimits limits;
  limits.max_connections_per_peer = 3;
  std::atomic<bool> stalled{false};
  HttpServer server([&](const HttpRequest& req) {
    if (req.path == "/stall") {
      stalled = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    return Echo(req);
  }, limits);
  ASSERT_EQ(server.Start({"127.0.0.1", 0}), "");
  const int probe = Connect(server.port());
  ASSERT_GE(probe, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // accepted, idle
  const int staller = Connect(server.port());
  const std::string stall = "GET /stall HTTP/1.1\r\nConnection: close\r\n\r\n";
  ::send(staller, stall.data(), stall.size(), MSG_NOSIGNAL);
  while (!stalled) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<int> burst{Connect(server.port())};  // the listener is ready first
  const std::string req = "GET /probe HTTP/1.1\r\nConnection: close\r\n\r\n";
  ::send(probe, req.data(), req.size(), MSG_NOSIGNAL);
  for (int i = 0; i < 3; ++i) burst.push_back(Connect(server.port()));
  const std::string out = ReadAll(probe, std::chrono::seconds(3));
  EXPECT_NE(out.find("GET /probe"), std::string::npos) << "the probe was closed unanswered: '" << out << "'";
  EXPECT_TRUE(ClosedWithin(burst[0], std::chrono::milliseconds(500))) << "an idle one made room instead";
  for (int fd : burst) ::close(fd);
  ::close(staller);
  ::close(probe);
}

// S33: the total cap holds across peers too (here all on loopback).
TEST(HttpServerLimits, TotalCapEvictsS33) {
  HttpLimits limits;
  limits.max_connections = 2;
  HttpServer server(Echo, limits);
  ASSERT_EQ(server.Start({"127.0.0.1", 0}), "");
  int a = Connect(server.port()), b = Connect(server.port());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int c = Connect(server.port());
  EXPECT_TRUE(ClosedWithin(a, std::chrono::milliseconds(500)));
  for (int fd : {a, b, c}) ::close(fd);
}

// S32/S33: a client that pipelines requests and never reads holds one
// response, not a growing pile, and is closed at the write deadline; others
// are served meanwhile.
TEST(HttpServerLimits, PipeliningWithoutReadingIsBoundedAndClosedS32) {
  const std::string big(256 << 10, 'x');
  HttpServer server([&](const HttpRequest&) {
    HttpResponse r;
    r.body = big;
    return r;
  }, Short());
  ASSERT_EQ(server.Start({"127.0.0.1", 0}), "");
  int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string many;
  for (int i = 0; i < 200; ++i) many += req;
  ::send(fd, many.data(), many.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  std::string other = Exchange(server.port(), "GET /other HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(other.rfind("HTTP/1.1 200 ", 0), 0u);
  // Never read: the server gives up at the write deadline.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  int pending = 0;
  ::ioctl(fd, FIONREAD, &pending);
  EXPECT_LT(static_cast<std::size_t>(pending), 200 * big.size() / 4) << "it did not answer everything";
  std::string rest = ReadAll(fd, std::chrono::seconds(2));
  EXPECT_LT(rest.size(), 200 * big.size()) << "closed before every response was written";
  ::close(fd);
}

// S33: a client that pipelines requests faster than they are answered (one
// per round) while reading every answer is not read from past
// kMaxUnansweredBytes until they are answered: what it sent ahead of its
// answers waits in socket buffers, not in the server, and every request is
// still answered (96 MB sent grew the server by 125 MB before).
TEST(HttpServerLimits, PipeliningAheadOfTheAnswersIsHeldBackS33) {
  HttpServer server([](const HttpRequest&) { return HttpResponse{}; }, Short());
  ASSERT_EQ(server.Start({"127.0.0.1", 0}), "");
  int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string block;
  while (block.size() < (16 << 10)) block += request;
  std::size_t sent = 0, answered = 0, most_ahead = 0;
  bool closed = false;
  std::string tail;  // of what was received, for counting answers split across reads
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!closed && std::chrono::steady_clock::now() < end) {
    const std::size_t at = sent % block.size();  // a partial send goes on where it stopped
    const ssize_t w = ::send(fd, block.data() + at, block.size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) sent += static_cast<std::size_t>(w);
    if (w < 0 && errno != EAGAIN) closed = true;
    char buf[65536];
    for (ssize_t r; (r = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) != 0;) {
      if (r < 0) {
        if (errno != EAGAIN) closed = true;
        break;
      }
      tail.append(buf, static_cast<std::size_t>(r));
      for (std::size_t at; (at = tail.find("HTTP/1.1 200 ")) != std::string::npos;) {
        ++answered;
        tail.erase(0, at + 1);
      }
    }
    most_ahead = std::max(most_ahead, sent / request.size() - std::min(sent / request.size(), answered));
  }
  ::close(fd);
  EXPECT_FALSE(closed) << "a client that reads its answers is served";
  EXPECT_GT(answered, 100u);
  // Requests sent but not answered: at most the server's bound plus what the
  // kernel buffers on both sides (a few MiB on loopback), not all it sent.
  EXPECT_LT(most_ahead * request.size(), 16u << 20) << sent << " bytes sent, " << answered << " answered";
}

// S32: clients pipelining slow requests without reading take turns with
// everyone else: each gets one answer per round, so a probe arriving
// meanwhile waits for at most a round (one render per such client), not for
// one client's whole pipeline.
TEST(HttpServerLimits, PipelinedRequestsTakeTurnsWithAProbeS32) {
  std::atomic<int> renders{0}, renders_before_probe{-1};
  HttpServer server([&](const HttpRequest& req) {
    HttpResponse r;
    if (req.path == "/healthz") {
      renders_before_probe = renders.load();
      r.body = "ok";
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a slow /metrics
    ++renders;
    r.body = std::string(2000, 'm');
    return r;
  });
  ASSERT_EQ(server.Start({"127.0.0.1", 0}), "");
  constexpr int kClients = 4, kPipelined = 100;
  std::vector<int> pipeliners;
  std::string many;
  for (int i = 0; i < kPipelined; ++i) many += "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < kClients; ++i) {
    pipeliners.push_back(Connect(server.port()));
    ASSERT_GE(pipeliners.back(), 0);
    ::send(pipeliners.back(), many.data(), many.size(), MSG_NOSIGNAL);
  }
  while (renders.load() < 2 * kClients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int at_probe = renders.load();
  std::string probe = Exchange(server.port(), "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(probe.rfind("HTTP/1.1 200 ", 0), 0u) << probe;
  const int waited = renders_before_probe.load() - at_probe;
  std::printf("renders between the probe's arrival and its answer: %d (%d pipelining clients)\n", waited,
              kClients);
  EXPECT_LE(waited, 2 * kClients + 1);
  for (int fd : pipeliners) ::close(fd);
}

// Reads responses from `fd` strictly: a status line, exactly one
// Content-Length, then that many body bytes; stops at `want` responses, at
// the first malformed one, or when the server closes. Reads 16 KiB at a
// time with a pause between reads: a slow reader.
std::vector<std::string> ReadBodiesSlowly(int fd, std::size_t want, std::string* error) {
  std::vector<std::string> bodies;
  std::string in;
  bool open = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (bodies.size() < want && std::chrono::steady_clock::now() < deadline) {
    const std::size_t head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const std::string head = in.substr(0, head_end + 2);
      if (head.rfind("HTTP/1.1 200 OK\r\n", 0) != 0) {
        *error = "response " + std::to_string(bodies.size()) + " starts with " + head.substr(0, 40);
        return bodies;
      }
      const std::string name = "\r\nContent-Length: ";
      const std::size_t at = head.find(name);
      if (at == std::string::npos || head.find(name, at + 1) != std::string::npos) {
        *error = "response " + std::to_string(bodies.size()) + " has no single Content-Length";
        return bodies;
      }
      const std::size_t length = std::stoul(head.substr(at + name.size()));
      if (in.size() >= head_end + 4 + length) {
        bodies.push_back(in.substr(head_end + 4, length));
        in.erase(0, head_end + 4 + length);
        continue;
      }
    }
    if (!open) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    char buf[16 << 10];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) open = false;
    else in.append(buf, static_cast<std::size_t>(n));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (bodies.size() < want) {
    *error = std::to_string(bodies.size()) + " whole responses, then " + std::to_string(in.size()) + " bytes";
  }
  return bodies;
}

// S32: a request pipelined behind one whose response is still being sent
// waits for it: its answer is not put in place of the unsent rest. Here the
// second burst arrives while the connection has a request queued; the first
// large answer to it cannot be sent at once (small receive buffer), and the
// next one must not be formatted over it.
TEST(HttpServerLimits, PipelinedAnswersWaitForTheResponseBeingSentS32) {
  std::atomic<int> served{0};
  HttpServer server([&](const HttpRequest& req) {
    HttpResponse r;
    r.body = req.path + "#" + std::to_string(served++);
    if (req.path == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (req.path == "/big") r.body.resize(1 << 20, 'b');
    return r;
  });
  ASSERT_EQ(server.Start({"127.0.0.1", 0}), "");
  const int fd = Connect(server.port(), 8 << 10);
  ASSERT_GE(fd, 0);
  auto get = [](const char* path) { return std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n"; };
  const std::string first = get("/slow") + get("/small") + get("/big") + get("/big");
  ::send(fd, first.data(), first.size(), MSG_NOSIGNAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // while /slow is answered
  const std::string second = get("/big") + get("/big");
  ::send(fd, second.data(), second.size(), MSG_NOSIGNAL);

  std::string error;
  const auto bodies = ReadBodiesSlowly(fd, 6, &error);
  ::close(fd);
  ASSERT_EQ(bodies.size(), 6u) << error;
  const char* paths[] = {"/slow", "/small", "/big", "/big", "/big", "/big"};
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const std::string want = std::string(paths[i]) + "#" + std::to_string(i);
    EXPECT_EQ(bodies[i].substr(0, want.size()), want) << "response " << i;
    EXPECT_EQ(bodies[i].size(), i < 2 ? want.size() : std::size_t{1} << 20) << "response " << i;
  }
}

}  // namespace
}  // namespace deviceapi::base
