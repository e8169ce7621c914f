// What the typed clients (Client, LeaseClient) do to every request the same
// way: the namespace default, a delete's preconditions, the deadline, and
// the unary call itself.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>

#include "deviceapi/client.h"

namespace deviceapi::client_internal {

inline std::string NamespaceOrDefault(const std::string& ns) {
  return ns.empty() ? std::string(kDefaultNamespace) : ns;
}

// Sets `out`'s preconditions when the options name any (S4: a delete that
// applies only to that uid / resource version).
inline void SetPreconditions(const DeleteOptions& options, v1alpha1::DeleteOptions* out) {
  if (options.precondition_uid.empty() && options.precondition_resource_version.empty()) return;
  auto* p = out->mutable_preconditions();
  p->set_uid(options.precondition_uid);
  p->set_resource_version(options.precondition_resource_version);
}

// `call`'s timeout, else `default_timeout`, from now.
inline void SetDeadline(grpc::ClientContext* context, const CallOptions& call,
                        std::chrono::milliseconds default_timeout) {
  const auto timeout = call.timeout.count() > 0 ? call.timeout : default_timeout;
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

// One blocking unary call of a generated stub's `method` under that
// deadline: the response, or the call's status.
template <typename Stub, typename Request, typename Response>
StatusOr<Response> UnaryCall(Stub& stub,
                             grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                             const Request& request, const CallOptions& call,
                             std::chrono::milliseconds default_timeout) {
  Response response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, call, default_timeout);
  grpc::Status s = (stub.*method)(&ctx, request, &response);
  if (!s.ok()) return Status::FromGrpc(s);
  return response;
}

}  // namespace deviceapi::client_internal
