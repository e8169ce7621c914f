#include "apiserver/gpu_service.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
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

// Parses a raw request straight from gRPC's slices. Unknown fields (new
// clients, hostile bytes) are dropped by the registry from the parts of a
// request that it stores; nothing else of a request is kept or echoed.
bool ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  if (!buffer.Valid()) return message->ParseFromString("");
  grpc::ByteBuffer shared(buffer);  // a reference to the same slices
  grpc::ProtoBufferReader reader(&shared);
  return message->ParseFromZeroCopyStream(&reader);
}

grpc::Status Malformed(const google::protobuf::Message& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "malformed request: not a valid " + message.GetTypeName() +
                          " (bad protobuf encoding or invalid UTF-8 in a string field)");
}

constexpr auto kNeverWaits = [](const auto&) { return false; };

grpc::ByteBuffer EmptyMessage() {
  grpc::Slice empty;
  return grpc::ByteBuffer(&empty, 1);
}

}  // namespace

// Reads that must wait for a revision the store has not reached yet (S9: up
// to StoreOptions::future_revision_wait) run on a short-lived thread of their
// own, so they never park one of gRPC's callback threads. Bounded: past
// kMaxWaitingReads they wait inline.
class WaitingReads {
 public:
  static constexpr std::size_t kMaxWaitingReads = 64;
  bool TryStart() {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ >= kMaxWaitingReads) return false;
    ++running_;
    return true;
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
    cv_.notify_all();
  }
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return running_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t running_ = 0;
};

// A request parsed onto its own arena. Once a write handler has handed the
// arena to the object it stores, `request` lives as long as that object and
// is not used again.
template <typename Request>
struct ParsedRequest {
  std::unique_ptr<google::protobuf::Arena> arena;
  Request* request = nullptr;
};

using ArenaPtr = std::unique_ptr<google::protobuf::Arena>;

class GpuServiceImpl::Impl {
 public:
  Impl(store::Store& store, Readiness& readiness, ServiceLimits limits)
      : store_(store), readiness_(readiness), strategy_(limits), registry_(store, strategy_) {}
  ~Impl() { waiting_reads_.WaitIdle(); }

  enum class Access { kRead, kWrite };

  // Runs `body` so that nothing escapes: exceptions become INTERNAL (S23).
  template <typename Body>
  grpc::Status Guarded(const char* method, Body&& body) {
    grpc::Status status;
    try {
      status = body();
    } catch (const std::exception& e) {
      status = InternalError(method, std::string("exception: ") + e.what());
    } catch (...) {
      status = InternalError(method, "unknown exception");
    }
    if (status.error_code() == grpc::StatusCode::INTERNAL) internal_errors_.fetch_add(1);
    return status;
  }

  // Runs one unary call: gate, parse, handle, map errors, never throw.
  // The request is parsed onto an arena of its own; `handle(request, arena)`
  // may take the arena over (writes build the stored object on it).
  // `waits(request)` says whether the handler may block for a future
  // revision; such calls finish from their own thread.
  template <typename Request, typename Handler, typename Waits>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const char* method,
                                  Access access, const grpc::ByteBuffer* in, Handler handle,
                                  Waits waits) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto call = std::make_shared<ParsedRequest<Request>>();
    bool deferred = false;
    grpc::Status status = Guarded(method, [&]() -> grpc::Status {
      grpc::Status gate = Gate(access);
      if (!gate.ok()) return gate;
      call->arena = NewMessageArena(in->Valid() ? in->Length() : 0);
      call->request = google::protobuf::Arena::CreateMessage<Request>(call->arena.get());
      if (!ParseRequest(*in, call->request)) return Malformed(*call->request);
      if (waits(*call->request) && waiting_reads_.TryStart()) {
        try {
          std::thread([this, reactor, method, call, handle] {
            reactor->Finish(Guarded(method, [&] { return handle(*call->request, call->arena); }));
            waiting_reads_.Done();
          }).detach();
          deferred = true;
          return grpc::Status::OK;
        } catch (const std::system_error&) {
          waiting_reads_.Done();  // no thread: wait inline
        }
      }
      return handle(*call->request, call->arena);
    });
    if (!deferred) reactor->Finish(status);
    return reactor;
  }

  // True when `rv` names a revision the store has not reached yet.
  bool IsFuture(const std::string& rv) const {
    auto parsed = ParseResourceVersion(rv, "");
    return parsed.ok() && parsed->has_value() && **parsed > store_.CurrentRevision();
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
  WaitingReads waiting_reads_;
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
      ctx, "GetGpu", Impl::Access::kRead, request,
      [impl = impl_.get(), response](const v1::GetGpuRequest& req, ArenaPtr&) {
        auto result = impl->registry_.Get(req.namespace_(), req.name(),
                                          req.opts().resource_version());
        return impl->Reply(result, "GetGpu", /*GetGpuResponse.gpu=*/1, response);
      },
      [impl = impl_.get()](const v1::GetGpuRequest& req) {
        return impl->IsFuture(req.opts().resource_version());
      });
}

grpc::ServerUnaryReactor* GpuServiceImpl::ListGpus(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return impl_->Unary<v1::ListGpusRequest>(
      ctx, "ListGpus", Impl::Access::kRead, request,
      [impl = impl_.get(), response](const v1::ListGpusRequest& req, ArenaPtr&) {
        auto options = ToStoreListOptions(req.namespace_(), req.opts());
        if (!options.ok()) return ToGrpcStatus(options.error(), "ListGpus");
        auto list = impl->store_.List(*options);
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
      },
      [impl = impl_.get()](const v1::ListGpusRequest& req) {
        return req.opts().resource_version_match() != "Exact" &&
               impl->IsFuture(req.opts().resource_version());
      });
}

grpc::ServerUnaryReactor* GpuServiceImpl::CreateGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return impl_->Unary<v1::CreateGpuRequest>(
      ctx, "CreateGpu", Impl::Access::kWrite, request,
      [impl = impl_.get(), response](v1::CreateGpuRequest& req, ArenaPtr& arena) {
        return impl->Reply(impl->registry_.Create(std::move(arena), req.mutable_gpu()), "CreateGpu",
                           -1, response);
      },
      kNeverWaits);
}

grpc::ServerUnaryReactor* GpuServiceImpl::UpdateGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return impl_->Unary<v1::UpdateGpuRequest>(
      ctx, "UpdateGpu", Impl::Access::kWrite, request,
      [impl = impl_.get(), response](v1::UpdateGpuRequest& req, ArenaPtr& arena) {
        return impl->Reply(impl->registry_.Update(std::move(arena), req.mutable_gpu()), "UpdateGpu",
                           -1, response);
      },
      kNeverWaits);
}

grpc::ServerUnaryReactor* GpuServiceImpl::UpdateGpuStatus(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* response) {
  return impl_->Unary<v1::UpdateGpuStatusRequest>(
      ctx, "UpdateGpuStatus", Impl::Access::kWrite, request,
      [impl = impl_.get(), response](v1::UpdateGpuStatusRequest& req, ArenaPtr& arena) {
        return impl->Reply(impl->registry_.UpdateStatus(std::move(arena), req.mutable_gpu()),
                           "UpdateGpuStatus", -1, response);
      },
      kNeverWaits);
}

grpc::ServerUnaryReactor* GpuServiceImpl::DeleteGpu(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return impl_->Unary<v1::DeleteGpuRequest>(
      ctx, "DeleteGpu", Impl::Access::kWrite, request,
      [impl = impl_.get(), response](const v1::DeleteGpuRequest& req, ArenaPtr&) {
        auto result =
            impl->registry_.Delete(req.namespace_(), req.name(), req.opts().preconditions());
        if (!result.ok()) return ToGrpcStatus(result.error(), "DeleteGpu");
        *response = EmptyMessage();
        return grpc::Status::OK;
      },
      kNeverWaits);
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
