// GpuService over the gRPC callback API: the GPU kind registered on the
// generic ResourceService (transport -> registry -> store, see
// resource_service.h), plus PatchGpu (S31): the patch document is parsed and
// bounded before the store's lock and applied to the current object under
// it (gpu_patch.h), so concurrent patches of different conditions never
// lose one and need no resource_version. Every method is raw: the service parses requests and
// builds responses itself, so a malformed request is INVALID_ARGUMENT, and
// unknown fields are dropped, never stored.
//
// Errors map as status_mapping.h says; no internal detail reaches the client
// (S23). Readiness (S21) and shutdown gate every call (service_transport.h);
// open watches end with UNAVAILABLE when the store shuts down (S22).
//
// Thread-safe. `store` and `readiness` must outlive the service, and the
// service must outlive the grpc::Server it is registered with.
#pragma once

#include <memory>
#include <string>

#include "apiserver/gpu_strategy.h"
#include "apiserver/readiness.h"
#include "apiserver/resource_service.h"
#include "apiserver/validation.h"  // ServiceLimits
#include "device_api.grpc.pb.h"
#include "store/store.h"

namespace deviceapi::apiserver {

namespace detail {
namespace v1 = nvidia::nvsentinel::v1alpha1;
// Every method raw: the service parses requests and builds responses itself.
using GpuRawService = v1::GpuService::WithRawCallbackMethod_GetGpu<
    v1::GpuService::WithRawCallbackMethod_ListGpus<v1::GpuService::WithRawCallbackMethod_WatchGpus<
        v1::GpuService::WithRawCallbackMethod_CreateGpu<v1::GpuService::WithRawCallbackMethod_UpdateGpu<
            v1::GpuService::WithRawCallbackMethod_UpdateGpuStatus<
                v1::GpuService::WithRawCallbackMethod_DeleteGpu<
                    v1::GpuService::WithRawCallbackMethod_PatchGpu<
                        v1::GpuService::CallbackService>>>>>>>>;
}  // namespace detail

// The GPU kind's requests, as ResourceService needs them.
struct GpuKind {
  using Object = detail::v1::Gpu;
  using GetRequest = detail::v1::GetGpuRequest;
  using ListRequest = detail::v1::ListGpusRequest;
  using WatchRequest = detail::v1::WatchGpusRequest;
  using CreateRequest = detail::v1::CreateGpuRequest;
  using UpdateRequest = detail::v1::UpdateGpuRequest;
  using UpdateStatusRequest = detail::v1::UpdateGpuStatusRequest;
  using DeleteRequest = detail::v1::DeleteGpuRequest;
  static constexpr const char* kGet = "GetGpu";
  static constexpr const char* kList = "ListGpus";
  static constexpr const char* kWatch = "WatchGpus";
  static constexpr const char* kCreate = "CreateGpu";
  static constexpr const char* kUpdate = "UpdateGpu";
  static constexpr const char* kUpdateStatus = "UpdateGpuStatus";
  static constexpr const char* kDelete = "DeleteGpu";
  static Object* Body(CreateRequest& r) { return r.mutable_gpu(); }
  static Object* Body(UpdateRequest& r) { return r.mutable_gpu(); }
  static Object* Body(UpdateStatusRequest& r) { return r.mutable_gpu(); }
};

struct GpuPatch;

// Register with grpc::ServerBuilder::RegisterService(&service).
class GpuServiceImpl final : public detail::GpuRawService {
 public:
  GpuServiceImpl(store::Store& store, Readiness& readiness, ServiceLimits limits = {});
  ~GpuServiceImpl() override;
  GpuServiceImpl(const GpuServiceImpl&) = delete;
  GpuServiceImpl& operator=(const GpuServiceImpl&) = delete;

  ServiceStats Stats() const;
  ResourceRegistry<GpuKind::Object>& registry() { return service_.registry(); }

  grpc::ServerUnaryReactor* GetGpu(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListGpus(grpc::CallbackServerContext* ctx,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchGpus(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* CreateGpu(grpc::CallbackServerContext* ctx,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpdateGpu(grpc::CallbackServerContext* ctx,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpdateGpuStatus(grpc::CallbackServerContext* ctx,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteGpu(grpc::CallbackServerContext* ctx,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* PatchGpu(grpc::CallbackServerContext* ctx,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;

 private:
  // Applies a parsed PatchGpu document to (ns, name) and answers `done`.
  void Patch(const std::string& ns, const std::string& name, const GpuPatch& patch,
             ResourceRegistry<GpuKind::Object>::Done done);

  GpuStrategy strategy_;
  ResourceService<GpuKind> service_;
};

}  // namespace deviceapi::apiserver
