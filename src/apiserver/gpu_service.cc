#include "apiserver/gpu_service.h"

#include "apiserver/gpu_patch.h"

namespace deviceapi::apiserver {

GpuServiceImpl::GpuServiceImpl(store::Store& store, Readiness& readiness, ServiceLimits limits)
    : strategy_(limits), service_(store, readiness, strategy_) {}

GpuServiceImpl::~GpuServiceImpl() = default;

ServiceStats GpuServiceImpl::Stats() const { return service_.Stats(); }

grpc::ServerUnaryReactor* GpuServiceImpl::GetGpu(grpc::CallbackServerContext* ctx,
                                                 const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) {
  return service_.Get(ctx, request, response);
}

grpc::ServerUnaryReactor* GpuServiceImpl::ListGpus(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return service_.List(ctx, request, response);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GpuServiceImpl::WatchGpus(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) {
  return service_.Watch(ctx, request);
}

grpc::ServerUnaryReactor* GpuServiceImpl::CreateGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return service_.Create(ctx, request, response);
}

grpc::ServerUnaryReactor* GpuServiceImpl::UpdateGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return service_.Update(ctx, request, response);
}

grpc::ServerUnaryReactor* GpuServiceImpl::UpdateGpuStatus(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* response) {
  return service_.UpdateStatus(ctx, request, response);
}

grpc::ServerUnaryReactor* GpuServiceImpl::DeleteGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return service_.Delete(ctx, request, response);
}

grpc::ServerUnaryReactor* GpuServiceImpl::PatchGpu(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return service_.transport().UnaryWrite<detail::v1::PatchGpuRequest>(
      ctx, "PatchGpu", request,
      [this, response](const detail::v1::PatchGpuRequest& req, ArenaPtr&, const ServiceTransport::Answer& answer) {
        auto patch = ParsePatch(req.patch_type(), req.data(), req.subresource());
        if (!patch.ok()) return answer([&] { return ToGrpcStatus(patch.error(), "PatchGpu"); });
        service_.registry().Mutate(
            req.namespace_(), req.name(), patch->part,
            [&](const GpuKind::Object& old, GpuKind::Object* updated) { return ApplyPatch(*patch, old, updated); },
            store::Store::ByteBound::kApplies, ResourceService<GpuKind>::Replier("PatchGpu", response, answer));
      });
}

}  // namespace deviceapi::apiserver
