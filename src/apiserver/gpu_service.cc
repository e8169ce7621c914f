#include "apiserver/gpu_service.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <string>
#include <vector>

#include "apiserver/gpu_strategy.h"
#include "apiserver/request_options.h"
#include "apiserver/resource_registry.h"
#include "apiserver/status_mapping.h"
#include "apiserver/watch_reactor.h"
#include "apiserver/wire_encoding.h"

namespace deviceapi::apiserver {

namespace v1 = nvidia::nvsentinel::v1alpha1;

namespace {

// Parses a raw request; unknown fields (new clients, hostile bytes) are
// dropped so they are never stored or echoed.
bool ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Valid()) return message->ParseFromString("");
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  bytes.reserve(buffer.Length());
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!message->ParseFromString(bytes)) return false;
  message->DiscardUnknownFields();
  return true;
}

grpc::Status Malformed(const google::protobuf::Message& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "malformed request: not a valid " + message.GetTypeName() +
                          " (bad protobuf encoding or invalid UTF-8 in a string field)");
}

grpc::ByteBuffer EmptyMessage() {
  grpc::Slice empty;
  return grpc::ByteBuffer(&empty, 1);
}

}  // namespace

class GpuServiceImpl::Impl {
 public:
  Impl(store::Store& store, Readiness& readiness, ServiceLimits limits)
      : store_(store), readiness_(readiness), strategy_(limits), registry_(store, strategy_) {}

  enum class Access { kRead, kWrite };

  // Runs one unary call: gate, parse, handle, map errors, never throw.
  template <typename Request, typename Handler>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const char* method,
                                  Access access, const grpc::ByteBuffer* in, Handler&& handle) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    grpc::Status status;
    try {
      status = Gate(access);
      if (status.ok()) {
        Request request;
        status = ParseRequest(*in, &request) ? handle(request) : Malformed(request);
      }
    } catch (const std::exception& e) {
      status = InternalError(method, std::string("exception: ") + e.what());
    } catch (...) {
      status = InternalError(method, "unknown exception");
    }
    if (status.error_code() == grpc::StatusCode::INTERNAL) internal_errors_.fetch_add(1);
    reactor->Finish(status);
    return reactor;
  }

  grpc::Status Gate(Access access) {
    if (readiness_.ShuttingDown()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, kShuttingDownMessage);
    }
    if (access == Access::kRead && !readiness_.IsReady()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, kNotReadyMessage);  // S21
    }
    return grpc::Status::OK;
  }

  template <typename T>
  grpc::Status Reply(const store::Result<T>& result, const char* method, int field,
                     grpc::ByteBuffer* out) {
    if (!result.ok()) return ToGrpcStatus(result.error(), method);
    *out = wire::EncodeObject<v1::Gpu>(*result, field);
    return grpc::Status::OK;
  }

  store::Store& store_;
  Readiness& readiness_;
  GpuStrategy strategy_;
  ResourceRegistry<v1::Gpu> registry_;
  WatchCounters watch_counters_;
  std::atomic<std::uint64_t> internal_errors_{0};
};

GpuServiceImpl::GpuServiceImpl(store::Store& store, Readiness& readiness, ServiceLimits limits)
    : impl_(std::make_unique<Impl>(store, readiness, limits)) {}

GpuServiceImpl::~GpuServiceImpl() = default;

ServiceStats GpuServiceImpl::Stats() const {
  ServiceStats s;
  s.watch_events_sent = impl_->watch_counters_.events_sent.load();
  s.active_watch_streams = impl_->watch_counters_.active_streams.load();
  s.watch_streams_too_slow = impl_->watch_counters_.streams_too_slow.load();
  s.internal_errors = impl_->internal_errors_.load();
  return s;
}

grpc::ServerUnaryReactor* GpuServiceImpl::GetGpu(grpc::CallbackServerContext* ctx,
                                                 const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) {
  return impl_->Unary<v1::GetGpuRequest>(
      ctx, "GetGpu", Impl::Access::kRead, request, [&](const v1::GetGpuRequest& req) {
        auto result = impl_->registry_.Get(req.namespace_(), req.name(),
                                           req.opts().resource_version());
        return impl_->Reply(result, "GetGpu", /*GetGpuResponse.gpu=*/1, response);
      });
}

grpc::ServerUnaryReactor* GpuServiceImpl::ListGpus(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return impl_->Unary<v1::ListGpusRequest>(
      ctx, "ListGpus", Impl::Access::kRead, request, [&](const v1::ListGpusRequest& req) {
        auto options = ToStoreListOptions(req.namespace_(), req.opts());
        if (!options.ok()) return ToGrpcStatus(options.error(), "ListGpus");
        auto list = impl_->store_.List(*options);
        if (!list.ok()) return ToGrpcStatus(list.error(), "ListGpus");
        std::vector<std::shared_ptr<const ProtoObject<v1::Gpu>>> items;
        items.reserve(list->items.size());
        for (const auto& item : list->items) {
          auto gpu = ProtoObject<v1::Gpu>::From(item);
          if (!gpu) return InternalError("ListGpus", "store holds an object of another kind");
          items.push_back(std::move(gpu));
        }
        *response = wire::EncodeList<v1::Gpu>(list->revision, items);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* GpuServiceImpl::CreateGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return impl_->Unary<v1::CreateGpuRequest>(
      ctx, "CreateGpu", Impl::Access::kWrite, request, [&](const v1::CreateGpuRequest& req) {
        return impl_->Reply(impl_->registry_.Create(req.gpu()), "CreateGpu", -1, response);
      });
}

grpc::ServerUnaryReactor* GpuServiceImpl::UpdateGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return impl_->Unary<v1::UpdateGpuRequest>(
      ctx, "UpdateGpu", Impl::Access::kWrite, request, [&](const v1::UpdateGpuRequest& req) {
        return impl_->Reply(impl_->registry_.Update(req.gpu()), "UpdateGpu", -1, response);
      });
}

grpc::ServerUnaryReactor* GpuServiceImpl::UpdateGpuStatus(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* response) {
  return impl_->Unary<v1::UpdateGpuStatusRequest>(
      ctx, "UpdateGpuStatus", Impl::Access::kWrite, request,
      [&](const v1::UpdateGpuStatusRequest& req) {
        return impl_->Reply(impl_->registry_.UpdateStatus(req.gpu()), "UpdateGpuStatus", -1,
                            response);
      });
}

grpc::ServerUnaryReactor* GpuServiceImpl::DeleteGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return impl_->Unary<v1::DeleteGpuRequest>(
      ctx, "DeleteGpu", Impl::Access::kWrite, request, [&](const v1::DeleteGpuRequest& req) {
        auto result =
            impl_->registry_.Delete(req.namespace_(), req.name(), req.opts().preconditions());
        if (!result.ok()) return ToGrpcStatus(result.error(), "DeleteGpu");
        *response = EmptyMessage();
        return grpc::Status::OK;
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GpuServiceImpl::WatchGpus(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) {
  WatchCounters* counters = &impl_->watch_counters_;
  grpc::Status status;
  try {
    status = impl_->Gate(Impl::Access::kRead);
    v1::WatchGpusRequest req;
    if (status.ok() && !ParseRequest(*request, &req)) status = Malformed(req);
    if (status.ok()) {
      auto options = ToStoreWatchOptions(req.namespace_(), req.opts());
      if (!options.ok()) {
        status = ToGrpcStatus(options.error(), "WatchGpus");
      } else {
        auto watcher = impl_->store_.Watch(*options);
        if (!watcher.ok()) {
          status = ToGrpcStatus(watcher.error(), "WatchGpus");
        } else {
          auto encoder = [](const store::Event& event, grpc::ByteBuffer* out) {
            if (event.type == store::EventType::kBookmark) {
              *out = wire::EncodeBookmark<v1::Gpu>(event);
              return true;
            }
            return wire::EncodeObjectEvent<v1::Gpu>(event, out);
          };
          return WatchReactor::Start(std::move(watcher).value(), encoder, counters);
        }
      }
    }
  } catch (const std::exception& e) {
    status = InternalError("WatchGpus", std::string("exception: ") + e.what());
  } catch (...) {
    status = InternalError("WatchGpus", "unknown exception");
  }
  if (status.error_code() == grpc::StatusCode::INTERNAL) impl_->internal_errors_.fetch_add(1);
  return WatchReactor::Refuse(status, counters);
}

}  // namespace deviceapi::apiserver
