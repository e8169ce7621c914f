// store::Error -> grpc::Status, exactly as the wire contract's table says.
//
//   kNotFound          NOT_FOUND
//   kAlreadyExists     ALREADY_EXISTS
//   kConflict          ABORTED (Kubernetes 409)
//   kInvalid           INVALID_ARGUMENT
//   kExpired           OUT_OF_RANGE "too old resource version..." (410 Gone)
//   kTooLargeRevision  OUT_OF_RANGE "too large resource version..."
//   kResourceExhausted RESOURCE_EXHAUSTED
//   kUnavailable       UNAVAILABLE
//   kInternal          INTERNAL "internal error"; the detail only to the log (S23)
#pragma once

#include <grpcpp/support/status.h>

#include <string_view>

#include "store/result.h"

namespace deviceapi::apiserver {

// `method` names the RPC in the log line of internal errors.
grpc::Status ToGrpcStatus(const store::Error& error, std::string_view method);

// The one message clients ever see for internal errors (S23).
inline constexpr const char* kInternalErrorMessage = "internal error";
// S21.
inline constexpr const char* kNotReadyMessage = "not ready: waiting for providers";
inline constexpr const char* kShuttingDownMessage = "server shutting down";
// S16.
inline constexpr const char* kWatcherTooSlowMessage = "watcher too slow";

// Logs `detail` and returns INTERNAL "internal error" (S23).
grpc::Status InternalError(std::string_view method, std::string_view detail);

}  // namespace deviceapi::apiserver
