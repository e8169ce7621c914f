// Shared pieces of the server's end-to-end tests: a running server with
// ephemeral ports, gRPC clients for its listeners, and test GPUs.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "device_api.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server_process.h"

namespace deviceapi::testing {

namespace v1 = nvidia::nvsentinel::v1alpha1;
using HealthStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

struct RunningServer {
  std::unique_ptr<ServerProcess> process;
  std::string socket;  // path
  int probe_port = 0, metrics_port = 0, tcp_port = 0;
  nlohmann::json started;  // the start-up log line
  explicit operator bool() const { return !started.is_null(); }
};

// Flags for a server on `socket` with every TCP listener on 127.0.0.1:0.
std::vector<std::string> BaseArgs(const std::string& socket);
// The server's environment for a peak-RSS measurement. Under ASan, memory that is freed
// waits in a quarantine of 256 MiB by default before it is reused, so an attack that churns
// through connections would measure the quarantine, not the server; a small one keeps the
// figure the server's own.
Env RssMeasurementEnv();

// BaseArgs + `extra` (later flags win), waits for the start-up line.
RunningServer StartServer(const std::string& socket, std::vector<std::string> extra = {},
                          Env env = {});

std::shared_ptr<grpc::Channel> UnixChannel(const std::string& socket);
std::shared_ptr<grpc::Channel> TcpChannel(int port);

// Check("service"): the status, or UNKNOWN with `rpc` set when the call failed.
HealthStatus CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service = "",
                         grpc::Status* rpc = nullptr);
// Polls Check until it answers `want` or `timeout` passes.
bool WaitForHealth(const std::shared_ptr<grpc::Channel>& channel, HealthStatus want,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

v1::Gpu MakeGpu(const std::string& name, int index = 0);
grpc::Status CreateGpu(const std::shared_ptr<grpc::Channel>& channel, const std::string& name,
                       int index = 0);
grpc::Status ListGpus(const std::shared_ptr<grpc::Channel>& channel, v1::ListGpusResponse* out = nullptr);

// A raw connection (no HTTP/2): its descriptor, or -1 when nobody accepts it.
// A listening socket is enough; the server need not have accepted yet.
int ConnectUnix(const std::string& path);
int ConnectLoopback(int port);  // 127.0.0.1:port, TCP_NODELAY
// A loopback port nobody listens on right now (bound to port 0, then closed).
int UnusedLoopbackPort();

// HTTP GET http://127.0.0.1:port/path: status code (0 if unreachable).
int HttpGet(int port, const std::string& path, std::string* body = nullptr);

}  // namespace deviceapi::testing
