#include "bench/connection.h"

#include <thread>

namespace deviceapi::bench {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, bool own_connection,
                                           bool fast_reconnect) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (fast_reconnect) {
    // Start-up measurement: the server is not listening yet, and gRPC's
    // default reconnect backoff (1 s) would be measured instead of it.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5);
  }
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

Connection::Connection(const std::string& target, bool own_connection, bool fast_reconnect)
    : channel(MakeChannel(target, own_connection, fast_reconnect)),
      gpus(v1::GpuService::NewStub(channel)),
      health(grpc::health::v1::Health::NewStub(channel)) {}

void SetDeadline(grpc::ClientContext* ctx, std::chrono::milliseconds timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
}

std::string Describe(const grpc::Status& s) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                 "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                 "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                 "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  int code = static_cast<int>(s.error_code());
  std::string name = code >= 0 && code <= 16 ? kNames[code] : std::to_string(code);
  return name + ": " + s.error_message();
}

bool CheckServing(Connection& c, std::chrono::milliseconds timeout, std::string* error) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  auto s = c.health->Check(&ctx, req, &resp);
  if (!s.ok()) {
    if (error) *error = Describe(s);
    return false;
  }
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    if (error) *error = "health: " + grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
    return false;
  }
  return true;
}

bool WaitServing(Connection& c, std::chrono::milliseconds timeout, std::string* error) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (CheckServing(c, std::chrono::milliseconds(1000), error)) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace deviceapi::bench
