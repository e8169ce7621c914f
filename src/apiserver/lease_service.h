// LeaseService over the gRPC callback API: the Lease kind (S28-S30)
// registered on the generic ResourceService, so leases follow S1-S23 like
// GPUs (revisions, watch, validation, limits, readiness, errors). A Lease has
// no status, hence no UpdateLeaseStatus. What leases do to GPUs is the
// LeaseController's job (lease_controller.h), attached through the
// registry's admission hook.
//
// Thread-safe. `store` (the leases' own store) and `readiness` must outlive
// the service, and the service must outlive the grpc::Server it is
// registered with.
#pragma once

#include "apiserver/lease_strategy.h"
#include "apiserver/readiness.h"
#include "apiserver/resource_service.h"
#include "device_api.grpc.pb.h"
#include "store/store.h"

namespace deviceapi::apiserver {

namespace detail {
namespace v1 = nvidia::nvsentinel::v1alpha1;
using LeaseRawService = v1::LeaseService::WithRawCallbackMethod_GetLease<
    v1::LeaseService::WithRawCallbackMethod_ListLeases<
        v1::LeaseService::WithRawCallbackMethod_WatchLeases<
            v1::LeaseService::WithRawCallbackMethod_CreateLease<
                v1::LeaseService::WithRawCallbackMethod_UpdateLease<
                    v1::LeaseService::WithRawCallbackMethod_DeleteLease<
                        v1::LeaseService::CallbackService>>>>>>;
}  // namespace detail

struct LeaseKind {
  using Object = detail::v1::Lease;
  using GetRequest = detail::v1::GetLeaseRequest;
  using ListRequest = detail::v1::ListLeasesRequest;
  using WatchRequest = detail::v1::WatchLeasesRequest;
  using CreateRequest = detail::v1::CreateLeaseRequest;
  using UpdateRequest = detail::v1::UpdateLeaseRequest;
  using DeleteRequest = detail::v1::DeleteLeaseRequest;
  static constexpr const char* kGet = "GetLease";
  static constexpr const char* kList = "ListLeases";
  static constexpr const char* kWatch = "WatchLeases";
  static constexpr const char* kCreate = "CreateLease";
  static constexpr const char* kUpdate = "UpdateLease";
  static constexpr const char* kDelete = "DeleteLease";
  static Object* Body(CreateRequest& r) { return r.mutable_lease(); }
  static Object* Body(UpdateRequest& r) { return r.mutable_lease(); }
};

// Register with grpc::ServerBuilder::RegisterService(&service).
class LeaseServiceImpl final : public detail::LeaseRawService {
 public:
  LeaseServiceImpl(store::Store& store, Readiness& readiness, ServiceLimits limits = {});
  LeaseServiceImpl(const LeaseServiceImpl&) = delete;
  LeaseServiceImpl& operator=(const LeaseServiceImpl&) = delete;

  ServiceStats Stats() const { return service_.Stats(); }
  ResourceRegistry<LeaseKind::Object>& registry() { return service_.registry(); }

  grpc::ServerUnaryReactor* GetLease(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                     grpc::ByteBuffer* out) override {
    return service_.Get(ctx, in, out);
  }
  grpc::ServerUnaryReactor* ListLeases(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* in, grpc::ByteBuffer* out) override {
    return service_.List(ctx, in, out);
  }
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchLeases(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* in) override {
    return service_.Watch(ctx, in);
  }
  grpc::ServerUnaryReactor* CreateLease(grpc::CallbackServerContext* ctx,
                                        const grpc::ByteBuffer* in, grpc::ByteBuffer* out) override {
    return service_.Create(ctx, in, out);
  }
  grpc::ServerUnaryReactor* UpdateLease(grpc::CallbackServerContext* ctx,
                                        const grpc::ByteBuffer* in, grpc::ByteBuffer* out) override {
    return service_.Update(ctx, in, out);
  }
  grpc::ServerUnaryReactor* DeleteLease(grpc::CallbackServerContext* ctx,
                                        const grpc::ByteBuffer* in, grpc::ByteBuffer* out) override {
    return service_.Delete(ctx, in, out);
  }

 private:
  LeaseStrategy strategy_;
  ResourceService<LeaseKind> service_;
};

}  // namespace deviceapi::apiserver
