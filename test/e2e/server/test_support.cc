#include "test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "http_client.h"

namespace deviceapi::testing {

std::vector<std::string> BaseArgs(const std::string& socket) {
  return {"--bind-address=unix://" + socket, "--health-probe-bind-address=127.0.0.1:0",
          "--metrics-bind-address=127.0.0.1:0", "--shutdown-grace-period=5s"};
}

Env RssMeasurementEnv() {
#if defined(__SANITIZE_ADDRESS__)
  const char* asan = std::getenv("ASAN_OPTIONS");
  return {{"ASAN_OPTIONS", std::string(asan ? asan : "") + (asan && *asan ? ":" : "") + "quarantine_size_mb=8"}};
#else
  return {};
#endif
}

RunningServer StartServer(const std::string& socket, std::vector<std::string> extra, Env env) {
  auto args = BaseArgs(socket);
  args.insert(args.end(), extra.begin(), extra.end());
  RunningServer s;
  s.socket = socket;
  s.process = std::make_unique<ServerProcess>(args, env);
  auto started = s.process->WaitStarted();
  if (!started) return s;
  s.started = *started;
  auto port = [&](const char* key) {
    auto it = started->find(key);
    return it != started->end() && it->is_string() && !it->get<std::string>().empty()
               ? PortOf(it->get<std::string>())
               : 0;
  };
  s.probe_port = port("health_probe");
  s.metrics_port = port("metrics");
  s.tcp_port = port("api_tcp");
  return s;
}

int ConnectUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

namespace {
sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}
}  // namespace

int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  return fd;
}

int UnusedLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(0);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

std::shared_ptr<grpc::Channel> UnixChannel(const std::string& socket) {
  return grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
}

std::shared_ptr<grpc::Channel> TcpChannel(int port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
}

HealthStatus CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                         grpc::Status* rpc) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status status = stub->Check(&ctx, req, &resp);
  if (rpc) *rpc = status;
  return status.ok() ? resp.status() : grpc::health::v1::HealthCheckResponse::UNKNOWN;
}

bool WaitForHealth(const std::shared_ptr<grpc::Channel>& channel, HealthStatus want,
                   std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    if (CheckHealth(channel) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the server polls readiness too
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

v1::Gpu MakeGpu(const std::string& name, int index) {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name(name);
  char uuid[64];
  std::snprintf(uuid, sizeof uuid, "GPU-%08x-1111-2222-3333-444444444444", index);
  gpu.mutable_spec()->set_uuid(uuid);
  return gpu;
}

grpc::Status CreateGpu(const std::shared_ptr<grpc::Channel>& channel, const std::string& name,
                       int index) {
  auto stub = v1::GpuService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::CreateGpuRequest req;
  *req.mutable_gpu() = MakeGpu(name, index);
  v1::Gpu out;
  return stub->CreateGpu(&ctx, req, &out);
}

grpc::Status ListGpus(const std::shared_ptr<grpc::Channel>& channel, v1::ListGpusResponse* out) {
  auto stub = v1::GpuService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ListGpusRequest req;
  v1::ListGpusResponse resp;
  auto status = stub->ListGpus(&ctx, req, &resp);
  if (out) *out = resp;
  return status;
}

int HttpGet(int port, const std::string& path, std::string* body) {
  auto res = HttpGet("127.0.0.1", port, path, std::chrono::seconds(4));
  if (!res) return 0;
  if (body) *body = res->body;
  return res->status;
}

}  // namespace deviceapi::testing
