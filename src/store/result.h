// Errors as values: every store operation returns Result<T>, never throws across
// the store boundary. The apiserver maps ErrorCode to gRPC status codes.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace deviceapi::store {

enum class ErrorCode {
  kNotFound,           // object missing
  kAlreadyExists,      // create of an existing key
  kConflict,           // resource_version / uid precondition failed (409)
  kInvalid,            // validation failure, immutable field changed
  kExpired,            // revision no longer retained (410 Gone): "too old resource version"
  kTooLargeRevision,   // revision above the current one after waiting: "too large resource version"
  kResourceExhausted,  // a configured limit was hit (objects, watchers)
  kFailedPrecondition, // a rule of the objects' own forbids the write (S29: an expired lease's
                       // condition set True); raised by write callbacks, never by the store
  kUnavailable,        // store is shutting down
  kInternal,           // a bug or backend failure; message is for the log only
};

struct Error {
  ErrorCode code;
  std::string message;
};

// A value or an Error. Minimal stand-in for std::expected (C++23).
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}            // NOLINT: implicit by design
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T& value() & { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  const Error& error() const { assert(!ok()); return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace deviceapi::store
