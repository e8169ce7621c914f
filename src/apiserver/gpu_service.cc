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
        auto patch = ParsePatch(req.patch_type(), req.data(), req.subresource(), strategy_.limits().max_labels);
        if (!patch.ok()) return answer([&] { return ToGrpcStatus(patch.error(), "PatchGpu"); });
        Patch(req.namespace_(), req.name(), *patch, ResourceService<GpuKind>::Replier("PatchGpu", response, answer));
      });
}

namespace {

// How often a patch converted outside the store's lock may find its GPU
// rewritten meanwhile before it is applied under the lock after all, so
// that it still applies to the current object however busy the GPU (S31).
constexpr int kAttemptsOutsideTheLock = 3;

}  // namespace

// A patch that AppliesInPlace is applied under the store's write lock, as
// a status update is. Any other converts the object to JSON and back, which
// takes milliseconds for a large object: it is applied to the current
// version outside the lock, and the result is stored only if the GPU is
// still at that version (S31, S32).
void GpuServiceImpl::Patch(const std::string& ns, const std::string& name, const GpuPatch& patch,
                           ResourceRegistry<GpuKind::Object>::Done done) {
  auto& registry = service_.registry();
  auto under_lock = [&](const GpuKind::Object& old, GpuKind::Object* updated) {
    return ApplyPatch(patch, old, updated);
  };
  if (AppliesInPlace(patch)) {
    return registry.Mutate(ns, name, patch.part, under_lock, store::Store::ByteBound::kApplies, std::move(done));
  }
  for (int attempt = 0; attempt < kAttemptsOutsideTheLock; ++attempt) {
    auto current = registry.Get(ns, name, "");
    if (!current.ok()) return done(current.error());
    const auto version = (*current)->Parse();
    GpuKind::Object patched = *version;
    const store::Result<bool> applied = ApplyPatch(patch, *version, &patched);
    const std::string& at = version->metadata().resource_version();
    // Set, before the store answers, when the GPU moved on: that answer is
    // dropped and the patch tried again.
    auto moved = std::make_shared<bool>(false);
    registry.Mutate(
        ns, name, patch.part,
        [&](const GpuKind::Object& old, GpuKind::Object* updated) -> store::Result<bool> {
          if (old.metadata().resource_version() != at) {
            *moved = true;
            return store::MakeError(store::ErrorCode::kConflict, "changed while the patch was applied");
          }
          if (!applied.ok() || !*applied) return applied;
          *updated = std::move(patched);
          return true;
        },
        store::Store::ByteBound::kApplies,
        [moved, done](const store::Result<ResourceRegistry<GpuKind::Object>::ObjectPtr>& result) {
          if (!*moved) done(result);
        });
    if (!*moved) return;
  }
  registry.Mutate(ns, name, patch.part, under_lock, store::Store::ByteBound::kApplies, std::move(done));
}

}  // namespace deviceapi::apiserver
