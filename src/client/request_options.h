// What the typed clients (Client, LeaseClient) do to every request the same
// way: the namespace default, a delete's preconditions, the deadline, and
// the unary call itself.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <mutex>
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

// Makes `context` cancellable by `canceller` (may be null) while in scope;
// a canceller already cancelled cancels the call as it starts.
class CancelScope {
 public:
  CancelScope(CallCanceller* canceller, grpc::ClientContext* context)
      : canceller_(canceller), context_(context) {
    if (canceller_ == nullptr) return;
    std::lock_guard lock(canceller_->mu_);
    if (canceller_->cancelled_) context_->TryCancel();
    canceller_->in_flight_.push_back(context_);
  }
  ~CancelScope() {
    if (canceller_ == nullptr) return;
    std::lock_guard lock(canceller_->mu_);
    auto& v = canceller_->in_flight_;
    v.erase(std::find(v.begin(), v.end(), context_));
  }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  CallCanceller* canceller_;
  grpc::ClientContext* context_;
};

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
  CancelScope cancel(call.canceller.get(), &ctx);
  grpc::Status s = (stub.*method)(&ctx, request, &response);
  if (!s.ok()) return Status::FromGrpc(s);
  return response;
}

}  // namespace deviceapi::client_internal
