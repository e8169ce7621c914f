#include "apiserver/status_mapping.h"

#include <spdlog/spdlog.h>

#include "apiserver/admission.h"

#include <string>

namespace deviceapi::apiserver {

grpc::Status InternalError(std::string_view method, std::string_view detail) {
  spdlog::error("{}: internal error: {}", method, detail);
  return grpc::Status(grpc::StatusCode::INTERNAL, kInternalErrorMessage);
}

grpc::Status ToGrpcStatus(const store::Error& error, std::string_view method) {
  using store::ErrorCode;
  switch (error.code) {
    case ErrorCode::kNotFound:
      return grpc::Status(grpc::StatusCode::NOT_FOUND, error.message);
    case ErrorCode::kAlreadyExists:
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, error.message);
    case ErrorCode::kConflict:
      return grpc::Status(grpc::StatusCode::ABORTED, error.message);
    case ErrorCode::kInvalid:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, error.message);
    case ErrorCode::kExpired: {
      // Clients match the prefix (client-go's "too old resource version").
      std::string msg = error.message;
      if (msg.rfind("too old resource version", 0) != 0) {
        msg = "too old resource version" + (msg.empty() ? "" : ": " + msg);
      }
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, msg);
    }
    case ErrorCode::kTooLargeRevision: {
      std::string msg = error.message;
      if (msg.rfind("too large resource version", 0) != 0) {
        msg = "too large resource version" + (msg.empty() ? "" : ": " + msg);
      }
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, msg);
    }
    case ErrorCode::kResourceExhausted:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, error.message);
    case ErrorCode::kFailedPrecondition:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, error.message);
    case ErrorCode::kUnavailable:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          error.message.empty() ? kShuttingDownMessage : error.message);
    case ErrorCode::kInternal:
      break;
  }
  return InternalError(method, error.message);
}

}  // namespace deviceapi::apiserver
