#include "server/health_service.h"

#include "deviceapi/build_info.h"

namespace deviceapi::server {

using grpc::health::v1::HealthCheckResponse;

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const grpc::health::v1::HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  auto* reactor = context->DefaultReactor();
  // Clients learn the server's version here (devicectl version).
  context->AddInitialMetadata("device-api-version", build::kVersion);
  context->AddInitialMetadata("device-api-commit", build::kCommit);
  context->AddInitialMetadata("device-api-build-date", build::kBuildDate);
  if (!state_.Knows(request->service())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
    return reactor;
  }
  response->set_status(state_.serving() ? HealthCheckResponse::SERVING
                                        : HealthCheckResponse::NOT_SERVING);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace deviceapi::server
