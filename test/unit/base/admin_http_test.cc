// The admin HTTP server over real sockets: endpoints, readiness 503 -> 200
// (S21), /metrics checked by the strict parser, SO_REUSEPORT off (a second
// server on the same port fails), prompt Stop().
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "metrics/registry.h"
#include "metrics/text_parser.h"
#include "base/admin_http.h"
#include "base/logging.h"
#include "http_client.h"

namespace deviceapi::base {
namespace {

// One request per connection, as kubelet and Prometheus mostly do.
struct Client {
  Client(std::string h, int p) : host(std::move(h)), port(p) {}
  auto Get(const std::string& path) const { return testing::HttpGet(host, port, path); }
  auto Head(const std::string& path) const { return testing::HttpRequest(host, port, "HEAD", path); }
  auto Post(const std::string& path, const std::string& body) const {
    return testing::HttpRequest(host, port, "POST", path, body);
  }
  std::string host;
  int port;
};

AdminHttpOptions Loopback() {
  AdminHttpOptions o;
  o.address = TcpAddress{"127.0.0.1", 0};
  return o;
}

class AdminHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { InitLogging({.json = true, .verbosity = 0, .sink = [](std::string_view) {}}); }
};

TEST_F(AdminHttpTest, HealthLivezVersionAnd404) {
  AdminHttpOptions o = Loopback();
  o.version_json = R"({"version":"9.9.9"})";
  AdminHttpServer server(o);
  ASSERT_EQ(server.Start(), "");
  ASSERT_GT(server.port(), 0);
  Client c("127.0.0.1", server.port());
  for (const char* path : {"/healthz", "/livez"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
  auto v = c.Get("/version");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->status, 200);
  EXPECT_EQ(nlohmann::json::parse(v->body)["version"], "9.9.9");
  EXPECT_EQ(v->Header("Content-Type"), "application/json");
  auto nf = c.Get("/nope");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  auto m = c.Get("/metrics");  // no registry given
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 404);
  auto post = c.Post("/healthz", "x");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  // Hostile paths and queries are just 404s.
  auto weird = c.Get("/../../etc/passwd?%00=%ff");
  ASSERT_TRUE(weird);
  EXPECT_EQ(weird->status, 404);
}

TEST_F(AdminHttpTest, DefaultVersionIsBuildInfo) {
  AdminHttpServer server(Loopback());
  ASSERT_EQ(server.Start(), "");
  Client c("127.0.0.1", server.port());
  auto v = c.Get("/version");
  ASSERT_TRUE(v);
  auto j = nlohmann::json::parse(v->body);
  EXPECT_TRUE(j.contains("version") && j.contains("commit") && j.contains("buildDate"));
}

// S21: /readyz says not ready (503, with the reason) until ready, then 200.
TEST_F(AdminHttpTest, ReadyzTurnsFrom503To200) {
  std::atomic<int> registered{0};
  AdminHttpOptions o = Loopback();
  o.ready_checks.push_back({"storage", [] { return std::string(); }});
  o.ready_checks.push_back({"providers", [&]() -> std::string {
                              if (registered >= 8) return "";
                              return "not ready: waiting for providers (" +
                                     std::to_string(registered.load()) +
                                     "/8 GPUs registered, grace period 12s left)";
                            }});
  AdminHttpServer server(o);
  ASSERT_EQ(server.Start(), "");
  Client c("127.0.0.1", server.port());

  auto r = c.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "not ready: waiting for providers (0/8 GPUs registered, grace period 12s left)\n");
  auto rv = c.Get("/readyz?verbose");
  ASSERT_TRUE(rv);
  EXPECT_EQ(rv->status, 503);
  EXPECT_EQ(rv->body,
            "[+]storage ok\n"
            "[-]providers failed: waiting for providers (0/8 GPUs registered, grace period 12s left)\n"
            "readyz check failed\n");
  // Liveness is independent of readiness.
  EXPECT_EQ(c.Get("/livez")->status, 200);

  registered = 8;
  auto ok = c.Get("/readyz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "ok");
  auto okv = c.Get("/readyz?verbose=1");
  ASSERT_TRUE(okv);
  EXPECT_EQ(okv->body, "[+]storage ok\n[+]providers ok\nreadyz check passed\n");
}

TEST_F(AdminHttpTest, MetricsEndpointServesValidText) {
  metrics::Registry registry;
  auto& requests = registry.AddCounter("test_requests_total", "Requests.", {"path"});
  requests.WithLabels({"/a\"b"}).Inc(5);
  registry.AddHistogram("test_seconds", "Latency.", {}, {0.1, 1}).Get().Observe(0.3);
  AdminHttpOptions o = Loopback();
  o.registry = &registry;
  AdminHttpServer server(o);
  ASSERT_EQ(server.Start(), "");
  Client c("127.0.0.1", server.port());
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto parsed = metrics::ParseText(r->body);
  ASSERT_TRUE(parsed.ok) << parsed.error << "\n" << r->body;
  EXPECT_EQ(parsed.exposition.Value("test_requests_total", {{"path", "/a\"b"}}), 5.0);
  EXPECT_EQ(parsed.exposition.Value("test_seconds_bucket", {{"le", "1"}}), 1.0);
  // Scrapes see current values.
  requests.WithLabels({"/a\"b"}).Inc();
  auto r2 = c.Get("/metrics");
  ASSERT_TRUE(r2);
  EXPECT_EQ(metrics::ParseText(r2->body).exposition.Value("test_requests_total", {{"path", "/a\"b"}}), 6.0);
}

// No SO_REUSEPORT: a second server on a port in use must fail to bind,
// reporting it as a value rather than throwing.
TEST_F(AdminHttpTest, SecondServerOnSamePortFailsToBind) {
  AdminHttpServer first(Loopback());
  ASSERT_EQ(first.Start(), "");
  AdminHttpOptions o = Loopback();
  o.address.port = static_cast<std::uint16_t>(first.port());
  AdminHttpServer second(o);
  const std::string err = second.Start();
  EXPECT_NE(err, "");
  EXPECT_NE(err.find(std::to_string(first.port())), std::string::npos) << err;
  EXPECT_NE(err.find("in use"), std::string::npos) << err;
  EXPECT_EQ(second.port(), 0);
  // The "every interface" address collides with the loopback listener too.
  AdminHttpOptions any;
  any.address = TcpAddress{"", static_cast<std::uint16_t>(first.port())};
  AdminHttpServer third(any);
  EXPECT_NE(third.Start(), "");
  // The first one is unaffected.
  Client c("127.0.0.1", first.port());
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(AdminHttpTest, BadHostIsAnErrorNotAThrow) {
  AdminHttpOptions o;
  o.address = TcpAddress{"definitely-not-a-host.invalid", 0};
  AdminHttpServer server(o);
  EXPECT_NE(server.Start(), "");
  server.Stop();  // harmless without a successful start
}

TEST_F(AdminHttpTest, AllInterfacesAndIpv6Loopback) {
  AdminHttpOptions o;
  o.address = TcpAddress{"", 0};
  AdminHttpServer server(o);
  ASSERT_EQ(server.Start(), "");
  Client c("127.0.0.1", server.port());
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  AdminHttpOptions v6;
  v6.address = TcpAddress{"::1", 0};
  AdminHttpServer s6(v6);
  const std::string err = s6.Start();
  if (!err.empty()) GTEST_SKIP() << "no IPv6 loopback here: " << err;
  Client c6("::1", s6.port());
  auto r6 = c6.Get("/livez");
  ASSERT_TRUE(r6);
  EXPECT_EQ(r6->status, 200);
}

TEST_F(AdminHttpTest, StopIsPromptWithIdleKeepAliveClient) {
  AdminHttpServer server(Loopback());
  ASSERT_EQ(server.Start(), "");
  // A keep-alive client that got its answer and then says nothing.
  const int idle = testing::HttpConnect("127.0.0.1", server.port(), std::chrono::seconds(2));
  ASSERT_GE(idle, 0);
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(idle, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  pollfd p{idle, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  const auto t0 = std::chrono::steady_clock::now();
  server.Stop();
  ::close(idle);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::seconds(3));
  server.Stop();  // idempotent
  Client after("127.0.0.1", server.port());
  EXPECT_FALSE(after.Get("/healthz"));
}

TEST_F(AdminHttpTest, HeadRequests) {
  AdminHttpServer server(Loopback());
  ASSERT_EQ(server.Start(), "");
  Client c("127.0.0.1", server.port());
  auto r = c.Head("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
}

// Concurrent scrapers while metrics change: every response is complete and
// valid, and counters never go backwards between scrapes of one client.
TEST_F(AdminHttpTest, ConcurrentScrapesDuringUpdates) {
  metrics::Registry registry;
  auto& counter = registry.AddCounter("work_total", "Work.", {"k"}).WithLabels({"v"});
  auto& hist = registry.AddHistogram("work_seconds", "Latency.", {}, {0.001, 0.01}).Get();
  AdminHttpOptions o = Loopback();
  o.registry = &registry;
  AdminHttpServer server(o);
  ASSERT_EQ(server.Start(), "");
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      counter.Inc();
      hist.Observe((i % 20) * 0.001);
    }
  });
  std::vector<std::thread> scrapers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    scrapers.emplace_back([&] {
      Client c("127.0.0.1", server.port());
      double last = -1;
      for (int i = 0; i < 25; ++i) {
        auto r = c.Get("/metrics");
        if (!r || r->status != 200) { ++failures; continue; }
        auto p = metrics::ParseText(r->body);
        if (!p.ok) { ++failures; continue; }
        double v = *p.exposition.Value("work_total", {{"k", "v"}});
        if (v < last) ++failures;
        last = v;
      }
    });
  }
  for (auto& th : scrapers) th.join();
  stop = true;
  writer.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(AdminHttpTest, StopRightAfterStartDoesNotHang) {
  for (int i = 0; i < 20; ++i) {
    AdminHttpServer server(Loopback());
    ASSERT_EQ(server.Start(), "");
    server.Stop();
  }
}

}  // namespace
}  // namespace deviceapi::base
