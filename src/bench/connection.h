// Channels and stubs to the server under test. Only the base wire contract
// is used (generated GpuService stubs, and grpc.health.v1 where the server
// has it), so the bench runs against any server that speaks it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "device_api.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace deviceapi::bench {

namespace v1 = nvidia::nvsentinel::v1alpha1;

// "unix:///p" stays as it is; "host:port" too (gRPC's default resolver).
// `own_connection`: a connection of its own rather than one shared with
// other channels of the same target (gRPC pools them by default). Watch
// fleets use it to stay under the server's streams-per-connection limit.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, bool own_connection = false,
                                           bool fast_reconnect = false);

// The shape of UpdateGpuStatusRequest the server expects: the merged
// contract's {gpu, opts}, or {name, status, resource_version, opts} of
// NVSentinel's pull request #720 at its head (pr_head_shape.proto).
enum class RequestShape { kMerged, kPrHead };

struct Connection {
  explicit Connection(const std::string& target, bool own_connection = false,
                      bool fast_reconnect = false, RequestShape shape = RequestShape::kMerged);
  // UpdateGpuStatus in the connection's request shape; `req` is always the
  // merged shape (the PR-head shape drops its namespace: the server's default).
  grpc::Status UpdateGpuStatus(grpc::ClientContext* ctx, const v1::UpdateGpuStatusRequest& req,
                               v1::Gpu* out);
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::GpuService::Stub> gpus;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  RequestShape shape;
};

// A context with a deadline, for one unary call.
void SetDeadline(grpc::ClientContext* ctx, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// grpc.health.v1 Check(""): true when SERVING.
bool CheckServing(Connection& c, std::chrono::milliseconds timeout, std::string* error = nullptr);

// Waits up to `timeout` for SERVING (reads answer UNAVAILABLE before it, S21).
// A server without grpc.health.v1 (UNIMPLEMENTED) is ready once a ListGpus
// of all namespaces succeeds.
bool WaitServing(Connection& c, std::chrono::milliseconds timeout, std::string* error);

// "CODE: message" of a failed call.
std::string Describe(const grpc::Status& s);

}  // namespace deviceapi::bench
