#include "bench/connection.h"

#include <thread>

#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>

#include "bench/objects.h"

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

Connection::Connection(const std::string& target, bool own_connection, bool fast_reconnect,
                       RequestShape request_shape)
    : channel(MakeChannel(target, own_connection, fast_reconnect)),
      gpus(v1::GpuService::NewStub(channel)),
      health(grpc::health::v1::Health::NewStub(channel)),
      shape(request_shape) {}

grpc::Status Connection::UpdateGpuStatus(grpc::ClientContext* ctx,
                                         const v1::UpdateGpuStatusRequest& req, v1::Gpu* out) {
  if (shape == RequestShape::kMerged) return gpus->UpdateGpuStatus(ctx, req, out);
  // The same method path as the generated stub's, with the older request.
  static const grpc::internal::RpcMethod kMethod(
      "/nvidia.nvsentinel.v1alpha1.GpuService/UpdateGpuStatus",
      grpc::internal::RpcMethod::NORMAL_RPC);
  return grpc::internal::BlockingUnaryCall(channel.get(), kMethod, ctx, ToPrHeadShape(req), out);
}

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

namespace {

// Readiness of a server without the health service: a list answers.
bool ListAnswers(Connection& c, std::string* error) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, std::chrono::milliseconds(1000));
  v1::ListGpusRequest req;
  v1::ListGpusResponse resp;
  auto s = c.gpus->ListGpus(&ctx, req, &resp);
  if (!s.ok() && error) *error = "list: " + Describe(s);
  return s.ok();
}

}  // namespace

bool WaitServing(Connection& c, std::chrono::milliseconds timeout, std::string* error) {
  auto end = std::chrono::steady_clock::now() + timeout;
  bool has_health = true;
  while (true) {
    std::string why;
    if (has_health && CheckServing(c, std::chrono::milliseconds(1000), &why)) return true;
    has_health = has_health && why.rfind("UNIMPLEMENTED", 0) != 0;
    if (!has_health && ListAnswers(c, &why)) return true;
    if (error) *error = why;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace deviceapi::bench
