// Errors as values for the device API SDK.
//
// Every SDK call returns a Status (or a StatusOr<T>) carrying the gRPC status
// code and the server's message unchanged. The Is* predicates encode the
// wire contract's mapping (shared with the Kubernetes client conventions):
//   NOT_FOUND -> IsNotFound, ALREADY_EXISTS -> IsAlreadyExists,
//   ABORTED -> IsConflict (409), OUT_OF_RANGE -> IsExpired (410 Gone),
//   UNAVAILABLE -> IsUnavailable, RESOURCE_EXHAUSTED -> IsResourceExhausted.
// No SDK call throws.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include <grpcpp/support/status.h>

namespace deviceapi {

class Status {
 public:
  Status() = default;  // OK
  Status(grpc::StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}
  static Status FromGrpc(const grpc::Status& status) {
    return Status(status.error_code(), status.error_message());
  }

  bool ok() const { return code_ == grpc::StatusCode::OK; }
  grpc::StatusCode code() const { return code_; }
  // The server's message, verbatim.
  const std::string& message() const { return message_; }
  // "NOT_FOUND: object default/x not found"; "OK" when ok().
  std::string ToString() const;

  bool IsNotFound() const { return code_ == grpc::StatusCode::NOT_FOUND; }
  bool IsAlreadyExists() const { return code_ == grpc::StatusCode::ALREADY_EXISTS; }
  // Optimistic-concurrency failure: re-read and retry (see RetryOnConflict).
  bool IsConflict() const { return code_ == grpc::StatusCode::ABORTED; }
  // The requested resource version is no longer retained (or not yet
  // reached): a watcher must relist.
  bool IsExpired() const { return code_ == grpc::StatusCode::OUT_OF_RANGE; }
  bool IsUnavailable() const { return code_ == grpc::StatusCode::UNAVAILABLE; }
  bool IsInvalid() const { return code_ == grpc::StatusCode::INVALID_ARGUMENT; }
  // A limit was hit; for watches: the server evicted a too-slow watcher.
  bool IsResourceExhausted() const {
    return code_ == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  bool IsDeadlineExceeded() const {
    return code_ == grpc::StatusCode::DEADLINE_EXCEEDED;
  }

 private:
  grpc::StatusCode code_ = grpc::StatusCode::OK;
  std::string message_;
};

// "OK", "NOT_FOUND", ... for a gRPC status code.
const char* StatusCodeName(grpc::StatusCode code);

// A value or a non-OK Status.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status(grpc::StatusCode::INTERNAL, "StatusOr built from OK status");
  }
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }
  // Precondition: ok().
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace deviceapi
