// gRPC server metrics, named as go-grpc-prometheus names them so existing
// dashboards and alerts work unchanged:
//
//   grpc_server_started_total{grpc_service,grpc_method,grpc_type}
//       RPCs started on the server.
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}
//       RPCs completed, by status code ("OK", "NotFound", "Aborted", ...).
//   grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type}
//       Histogram of time from start to status sent.
//   grpc_server_msg_received_total{grpc_service,grpc_method,grpc_type}
//   grpc_server_msg_sent_total{grpc_service,grpc_method,grpc_type}
//       Messages received / sent per RPC (streams: one per event).
//
// grpc_service is the fully qualified service ("nvidia.nvsentinel.v1alpha1.GpuService"),
// grpc_method the bare method ("GetGpu"), grpc_type one of "unary",
// "client_stream", "server_stream", "bidi_stream".
//
// Works with the sync and callback APIs (it is an interceptor). The per-call
// cost is one shared-lock lookup of the method's cached metrics plus a few
// atomic adds.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

namespace deviceapi::metrics {
class Registry;
}

namespace deviceapi::server {

// "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
// "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
// "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal",
// "Unavailable", "DataLoss", "Unauthenticated" (Go's codes.Code.String()).
const char* GrpcCodeName(int code);

// Owns the families above and the per-method cache. Thread-safe.
class GrpcServerMetrics {
 public:
  // Registers the families in `registry` (std::invalid_argument if they
  // already exist there). `registry` must outlive this object.
  explicit GrpcServerMetrics(metrics::Registry& registry);
  ~GrpcServerMetrics();
  GrpcServerMetrics(const GrpcServerMetrics&) = delete;
  GrpcServerMetrics& operator=(const GrpcServerMetrics&) = delete;

  // The factory to hand to builder.experimental().SetInterceptorCreators().
  // It refers to this object, which must outlive every server built with it.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // Declares the methods the server really serves and creates their series
  // before the first call, so started and handled{grpc_code="OK"} read 0
  // instead of being absent (rate() on a fresh process then works).
  // `full_method` is "/package.Service/Method"; `type` as grpc_type above.
  //
  // Once at least one method is declared, calls to any other method (a
  // client may send any path; gRPC answers UNIMPLEMENTED) are counted with
  // grpc_service and grpc_method "unknown", so clients cannot grow the label
  // space. With none declared, paths are recorded as they come, up to 64
  // distinct ones (then "unknown" too): declare the services in production.
  void InitializeMethod(std::string_view full_method, std::string_view type);
  // Declares every method of a service found in protobuf's generated pool
  // (e.g. "nvidia.nvsentinel.v1alpha1.GpuService"); "grpc.health.v1.Health"
  // is known without it. False if the service is unknown.
  bool InitializeService(std::string_view service_full_name);

  class Impl;  // public only so the interceptor (in the .cc) can reach it

 private:
  std::unique_ptr<Impl> impl_;
};

// Shorthand: a factory that owns its own GrpcServerMetrics on `registry`,
// with InitializeService() done for each of `services` (unknown names are
// skipped). Pass the services the server registers, e.g.
//   {"nvidia.nvsentinel.v1alpha1.GpuService", "grpc.health.v1.Health"}.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcMetricsInterceptorFactory(metrics::Registry& registry,
                                 const std::vector<std::string>& services = {});

}  // namespace deviceapi::server
