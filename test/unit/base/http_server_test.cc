// HttpServer over real sockets, with raw bytes: what kubelet and Prometheus
// send works; hostile or broken requests get the right status and a closed
// connection, and the server goes on serving.
#include "base/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace deviceapi::base {
namespace {

HttpResponse Echo(const HttpRequest& req) {
  HttpResponse res;
  res.body = req.method + " " + req.path + " verbose=" + (req.HasParam("verbose") ? "yes" : "no");
  return res;
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
  HttpServer server_{Echo, 2};
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
  // And it still serves.
  EXPECT_EQ(Exchange(port, "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST_F(HttpServerTest, IdleAndSilentConnectionsDoNotHoldWorkersForever) {
  // Two workers; two connections that send nothing, then a real request.
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
  HttpServer throwing([](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); }, 1);
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
  HttpServer first(Echo, 1);
  ASSERT_EQ(first.Start({"127.0.0.1", 0}), "");
  HttpServer second(Echo, 1);
  std::string error = second.Start({"127.0.0.1", static_cast<std::uint16_t>(first.port())});
  EXPECT_NE(error.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())), std::string::npos)
      << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}

}  // namespace
}  // namespace deviceapi::base
