// The TCP listeners: no port sharing between processes (SO_REUSEPORT off),
// the TCP API port accepting once the socket does, the probe listener
// carries health and nothing else, and the readiness gate (S21) as seen by
// gRPC health, reads and /readyz.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "test_support.h"

namespace deviceapi::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;

void ExpectPortTaken(const std::string& flag, int port, const std::string& extra_flag = "") {
  TempDir dir;
  auto args = BaseArgs(dir.File("second.sock"));
  args.push_back(flag + "=127.0.0.1:" + std::to_string(port));
  if (!extra_flag.empty()) args.push_back(extra_flag);
  ExitResult r = RunToExit(args);
  EXPECT_EQ(r.code, 2) << flag << ": " << r.err;
  auto lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find(flag), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("in use"), std::string::npos) << lines[0];
  EXPECT_NE(access(dir.File("second.sock").c_str(), F_OK), 0) << "socket of the failed start removed";
}

// The API socket starts after the TCP API listener: a client that waited
// for it may dial the TCP port at once. Each start is watched from its first
// instant: the socket is dialled every 50 µs, and the moment it accepts, the
// TCP port must too (a start that opened the socket first would leave a
// window between them).
TEST(Listeners, TcpApiPortAcceptsOnceTheSocketDoes) {
  for (int start = 0; start < 10; ++start) {
    TempDir dir;
    const std::string socket = dir.File("api.sock");
    const int port = UnusedLoopbackPort();
    ASSERT_GT(port, 0);
    auto args = BaseArgs(socket);
    args.push_back("--tcp-bind-address=127.0.0.1:" + std::to_string(port));
    ServerProcess server(args);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int unix_fd = -1;
    while ((unix_fd = ConnectUnix(socket)) < 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    ASSERT_GE(unix_fd, 0) << "the socket never accepted: " << server.Stderr();
    const int tcp_fd = ConnectLoopback(port);
    EXPECT_GE(tcp_fd, 0) << "start " << start << ": the socket accepts, TCP port " << port << " does not";
    ::close(unix_fd);
    if (tcp_fd >= 0) ::close(tcp_fd);
    ASSERT_TRUE(server.WaitStarted()) << server.Stderr();
  }
}

TEST(Listeners, SecondServerOnTheSamePortsFails) {
  TempDir dir;
  auto first = StartServer(dir.File("api.sock"), {"--tcp-bind-address=127.0.0.1:0"});
  ASSERT_TRUE(first) << first.process->Stderr();
  ASSERT_GT(first.probe_port, 0);
  ASSERT_GT(first.tcp_port, 0);
  ASSERT_GT(first.metrics_port, 0);

  ExpectPortTaken("--health-probe-bind-address", first.probe_port);
  ExpectPortTaken("--tcp-bind-address", first.tcp_port);
  ExpectPortTaken("--metrics-bind-address", first.metrics_port);

  // The first server is unaffected.
  EXPECT_EQ(CheckHealth(TcpChannel(first.probe_port)), HealthCheckResponse::SERVING);
  EXPECT_TRUE(ListGpus(TcpChannel(first.tcp_port)).ok());
}

TEST(Listeners, ProbeListenerServesOnlyHealth) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"));
  ASSERT_TRUE(s) << s.process->Stderr();
  auto probe = TcpChannel(s.probe_port);
  ASSERT_TRUE(WaitForHealth(probe, HealthCheckResponse::SERVING));
  EXPECT_EQ(CheckHealth(probe, "nvidia.nvsentinel.v1alpha1.GpuService"), HealthCheckResponse::SERVING);
  grpc::Status st;
  CheckHealth(probe, "no.such.Service", &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);

  // Nobody reads or writes GPUs through the probe port.
  st = ListGpus(probe);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
  st = CreateGpu(probe, "gpu-0");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();

  // Reflection is on the API listener only.
  auto method = [](const std::shared_ptr<grpc::Channel>& ch) {
    grpc::GenericStub stub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    // A stream with no messages: finishing it tells whether the method exists.
    grpc::CompletionQueue cq;
    auto stream = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    stream->StartCall(reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    cq.Next(&tag, &ok);
    stream->WritesDone(reinterpret_cast<void*>(2));
    cq.Next(&tag, &ok);
    grpc::Status status;
    stream->Finish(&status, reinterpret_cast<void*>(3));
    while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(3)) {
    }
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status.error_code();
  };
  EXPECT_EQ(method(probe), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(method(UnixChannel(s.socket)), grpc::StatusCode::OK);
}

TEST(Listeners, ReadinessGateS21) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {"--readiness-min-gpus=1"});
  ASSERT_TRUE(s) << s.process->Stderr();
  auto api = UnixChannel(s.socket);
  auto probe = TcpChannel(s.probe_port);

  // S21: not ready, so health says NOT_SERVING, reads are UNAVAILABLE, /readyz 503.
  EXPECT_EQ(CheckHealth(probe), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckHealth(api, "nvidia.nvsentinel.v1alpha1.GpuService"), HealthCheckResponse::NOT_SERVING);
  grpc::Status st = ListGpus(api);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(st.error_message().find("not ready"), std::string::npos) << st.error_message();
  std::string body;
  EXPECT_EQ(HttpGet(s.metrics_port, "/readyz", &body), 503) << body;

  // S21: writes are accepted before ready; the first GPU opens the gate.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(CreateGpu(api, "gpu-0").ok());
  ASSERT_TRUE(WaitForHealth(probe, HealthCheckResponse::SERVING, std::chrono::seconds(3)));
  std::printf("GPU created to probe SERVING: %.1f ms\n",
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  EXPECT_EQ(CheckHealth(api), HealthCheckResponse::SERVING);
  v1::ListGpusResponse list;
  st = ListGpus(api, &list);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(list.gpu_list().items_size(), 1);
  EXPECT_EQ(HttpGet(s.metrics_port, "/readyz", &body), 200) << body;
  EXPECT_EQ(HttpGet(s.metrics_port, "/metrics", &body), 200);
  EXPECT_NE(body.find("grpc_server_handled_total"), std::string::npos);
}

TEST(Listeners, ReadinessGracePeriodOpensTheGate) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {"--readiness-min-gpus=8", "--readiness-grace-period=300ms"});
  ASSERT_TRUE(s) << s.process->Stderr();
  auto probe = TcpChannel(s.probe_port);
  EXPECT_EQ(CheckHealth(probe), HealthCheckResponse::NOT_SERVING);
  EXPECT_TRUE(WaitForHealth(probe, HealthCheckResponse::SERVING, std::chrono::seconds(3)));
  EXPECT_TRUE(ListGpus(UnixChannel(s.socket)).ok());
}

TEST(Listeners, ProbeAndMetricsCanBeTurnedOff) {
  TempDir dir;
  auto s = StartServer(dir.File("api.sock"), {"--health-probe-bind-address=0", "--metrics-bind-address=0"});
  ASSERT_TRUE(s) << s.process->Stderr();
  EXPECT_EQ(s.probe_port, 0);
  EXPECT_EQ(s.metrics_port, 0);
  EXPECT_TRUE(WaitForHealth(UnixChannel(s.socket), HealthCheckResponse::SERVING));
}

}  // namespace
}  // namespace deviceapi::testing
