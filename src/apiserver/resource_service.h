// ResourceService<Kind>: the RPCs every resource kind has (Get, List, Watch,
// Create, Update, UpdateStatus when the kind has a status, Delete), each
// going transport -> registry -> store:
//
//   ServiceTransport (gating, parsing, errors, waits for future revisions)
//     -> ResourceRegistry<Msg> (strategy, preconditions, no-ops, reads)
//       -> store::Store
//
// Responses are assembled from the objects' cached encodings
// (wire_encoding.h): an object is serialized once, whatever the number of
// readers and watchers. Watches are served by a WatchReactor per stream
// driven by the store's Watcher callbacks; no thread per watcher.
//
// A kind is a message, a strategy and a traits struct naming its request
// types and method names:
//
//   struct GpuKind {
//     using Object = v1::Gpu;
//     using GetRequest = v1::GetGpuRequest;      // name, namespace, opts
//     using ListRequest = ...; WatchRequest, CreateRequest, UpdateRequest,
//     UpdateStatusRequest (kinds with a status), DeleteRequest;
//     static constexpr const char* kGet = "GetGpu"; ... kDelete;
//     static Object* Body(CreateRequest&);       // the object a write carries
//     static Object* Body(UpdateRequest&); ...
//   };
//
// The gRPC service class of the kind only forwards its raw methods here.
// Thread-safe. `store`, `readiness` and `strategy` must outlive the service.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "apiserver/request_options.h"
#include "apiserver/resource_registry.h"
#include "apiserver/service_transport.h"
#include "apiserver/wire_encoding.h"

namespace deviceapi::apiserver {

template <typename Kind>
class ResourceService {
 public:
  using Msg = typename Kind::Object;
  using Access = ServiceTransport::Access;
  using Answer = ServiceTransport::Answer;
  using ObjectPtr = typename ResourceRegistry<Msg>::ObjectPtr;

  ResourceService(store::Store& store, Readiness& readiness, const ResourceStrategy<Msg>& strategy)
      : transport_(readiness, store), registry_(store, strategy) {}

  ServiceStats Stats() const { return transport_.Stats(); }
  ResourceRegistry<Msg>& registry() { return registry_; }
  const ResourceRegistry<Msg>& registry() const { return registry_; }
  ServiceTransport& transport() { return transport_; }

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) {
    return transport_.Unary<typename Kind::GetRequest>(
        ctx, Kind::kGet, Access::kRead, in,
        [this, out](const auto& req, ArenaPtr&) {
          auto result = registry_.Get(req.namespace_(), req.name(), req.opts().resource_version());
          return Reply(result, Kind::kGet, /*Get<Kind>Response.<kind>=*/1, out);
        },
        [this](const auto& req) {
          return transport_.FutureRevisionIfValid(req.opts().resource_version(), [&] {
            return registry_.CheckKey(req.namespace_(), req.name());
          });
        });
  }

  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                 grpc::ByteBuffer* out) {
    return transport_.Unary<typename Kind::ListRequest>(
        ctx, Kind::kList, Access::kRead, in,
        [this, out](const auto& req, ArenaPtr&) {
          auto list = registry_.List(req.namespace_(), req.opts());
          if (!list.ok()) return ToGrpcStatus(list.error(), Kind::kList);
          *out = wire::EncodeList<Msg>(list->revision, list->items);
          return grpc::Status::OK;
        },
        // Exact lists too: a revision not reached yet is waited for first.
        [this](const auto& req) {
          return transport_.FutureRevisionIfValid(req.opts().resource_version(), [&] {
            return registry_.CheckList(req.namespace_(), req.opts());
          });
        });
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(grpc::CallbackServerContext*,
                                                    const grpc::ByteBuffer* in) {
    return transport_.Stream<typename Kind::WatchRequest>(
        Kind::kWatch, in, &EncodeEvent,
        [](const auto& req) {
          return WatchSubject{Kind::kWatch, req.namespace_(), req.opts().label_selector()};
        },
        [this](const auto& req) { return registry_.Watch(req.namespace_(), req.opts()); },
        [this](const auto& req) {
          return transport_.FutureRevisionIfValid(req.opts().resource_version(), [&] {
            return registry_.CheckWatch(req.namespace_(), req.opts());
          });
        });
  }

  // Writes answer from the store's callback (ResourceRegistry::Done): a
  // write waiting for its durable commit holds no thread (S32).
  grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) {
    return transport_.UnaryWrite<typename Kind::CreateRequest>(
        ctx, Kind::kCreate, in, [this, out](auto& req, ArenaPtr& arena, const Answer& answer) {
          registry_.Create(std::move(arena), Kind::Body(req), Replier(Kind::kCreate, out, answer));
        });
  }

  grpc::ServerUnaryReactor* Update(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) {
    return transport_.UnaryWrite<typename Kind::UpdateRequest>(
        ctx, Kind::kUpdate, in, [this, out](auto& req, ArenaPtr& arena, const Answer& answer) {
          registry_.Update(std::move(arena), Kind::Body(req), Replier(Kind::kUpdate, out, answer));
        });
  }

  grpc::ServerUnaryReactor* UpdateStatus(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
    return transport_.UnaryWrite<typename Kind::UpdateStatusRequest>(
        ctx, Kind::kUpdateStatus, in, [this, out](auto& req, ArenaPtr& arena, const Answer& answer) {
          registry_.UpdateStatus(std::move(arena), Kind::Body(req), Replier(Kind::kUpdateStatus, out, answer));
        });
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) {
    return transport_.UnaryWrite<typename Kind::DeleteRequest>(
        ctx, Kind::kDelete, in, [this, out](const auto& req, ArenaPtr&, const Answer& answer) {
          registry_.Delete(req.namespace_(), req.name(), req.opts().preconditions(),
                           [out, answer](const store::Result<ObjectPtr>& result) {
                             answer([&] {
                               if (!result.ok()) return ToGrpcStatus(result.error(), Kind::kDelete);
                               *out = EmptyMessage();
                               return grpc::Status::OK;
                             });
                           });
        });
  }

  // The registry's answer to a write, as the call's reply with the object.
  static typename ResourceRegistry<Msg>::Done Replier(const char* method, grpc::ByteBuffer* out,
                                                      const Answer& answer) {
    return [method, out, answer](const store::Result<ObjectPtr>& result) {
      answer([&] { return Reply(result, method, -1, out); });
    };
  }

  // Answers a write or Get with the object (field < 0: the bare object).
  static grpc::Status Reply(const store::Result<ObjectPtr>& result,
                            const char* method, int field, grpc::ByteBuffer* out) {
    if (!result.ok()) return ToGrpcStatus(result.error(), method);
    *out = wire::EncodeObject<Msg>(*result, field);
    return grpc::Status::OK;
  }

 private:
  static constexpr auto kNeverWaits = [](const auto&) { return std::optional<store::Revision>(); };

  static bool EncodeEvent(const store::Event& event, grpc::ByteBuffer* out) {
    if (event.type == store::EventType::kBookmark) {
      *out = wire::EncodeBookmark<Msg>(event);
      return true;
    }
    return wire::EncodeObjectEvent<Msg>(event, out);
  }

  ServiceTransport transport_;
  ResourceRegistry<Msg> registry_;
};

}  // namespace deviceapi::apiserver
