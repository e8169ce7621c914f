// ServiceTransport: the kind-agnostic half of a resource service over the
// gRPC callback API. It knows requests only as protobuf messages and answers
// only as grpc::Status; what a call does is the caller's handler.
//
//   - Guarded: nothing escapes a handler; exceptions become INTERNAL
//     "internal error" (S23), counted for the metrics endpoint.
//   - Gate: after Readiness::BeginShutdown() every call answers UNAVAILABLE;
//     reads before Readiness::IsReady() answer UNAVAILABLE "not ready:
//     waiting for providers" (S21); writes are accepted.
//   - Unary: gate, parse the raw request onto an arena of its own (malformed
//     bytes are INVALID_ARGUMENT, not gRPC's generic INTERNAL), handle, finish.
//     Reads that must wait for a future revision (S9) finish from a
//     short-lived thread of their own, bounded by kMaxWaitingReads, so they
//     never park one of gRPC's callback threads.
//
// Thread-safe. `readiness` must outlive the transport; the transport waits
// for its waiting reads in its destructor.
#pragma once

#include <grpcpp/grpcpp.h>
#include <google/protobuf/arena.h>
#include <google/protobuf/message.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "apiserver/proto_object.h"
#include "apiserver/readiness.h"
#include "apiserver/status_mapping.h"
#include "apiserver/watch_reactor.h"

namespace deviceapi::apiserver {

// Counters a service keeps for the metrics endpoint. Thread-safe reads.
struct ServiceStats {
  std::uint64_t watch_events_sent = 0;       // events written to watch streams
  std::size_t active_watch_streams = 0;      // open watch streams
  std::uint64_t watch_streams_too_slow = 0;  // streams ended RESOURCE_EXHAUSTED (S16)
  std::uint64_t internal_errors = 0;         // calls answered INTERNAL (S23)

  ServiceStats& operator+=(const ServiceStats& other) {
    watch_events_sent += other.watch_events_sent;
    active_watch_streams += other.active_watch_streams;
    watch_streams_too_slow += other.watch_streams_too_slow;
    internal_errors += other.internal_errors;
    return *this;
  }
};

// Parses a raw request straight from gRPC's slices. Unknown fields (new
// clients, hostile bytes) are dropped by the registry from the parts of a
// request that it stores; nothing else of a request is kept or echoed.
bool ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message);
// INVALID_ARGUMENT naming the message type that did not parse.
grpc::Status Malformed(const google::protobuf::Message& message);
// The encoding of google.protobuf.Empty.
grpc::ByteBuffer EmptyMessage();

// Reads waiting on threads of their own, at most kMaxWaitingReads at once.
class WaitingReads {
 public:
  static constexpr std::size_t kMaxWaitingReads = 64;
  bool TryStart();
  void Done();
  void WaitIdle();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t running_ = 0;
};

using ArenaPtr = std::unique_ptr<google::protobuf::Arena>;

class ServiceTransport {
 public:
  enum class Access { kRead, kWrite };

  explicit ServiceTransport(Readiness& readiness) : readiness_(readiness) {}
  ~ServiceTransport() { waiting_reads_.WaitIdle(); }
  ServiceTransport(const ServiceTransport&) = delete;
  ServiceTransport& operator=(const ServiceTransport&) = delete;

  grpc::Status Gate(Access access) const;

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
    CountIfInternal(status);
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
    auto call = std::make_shared<Parsed<Request>>();
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

  // Opens a watch stream: gate, parse, then `start(request)` returns the
  // reactor that serves it, or sets `*refused` and returns null.
  template <typename Request, typename Start>
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Stream(const char* method,
                                                     const grpc::ByteBuffer* in, Start start) {
    WatchReactor* reactor = nullptr;
    grpc::Status status = Guarded(method, [&]() -> grpc::Status {
      grpc::Status gate = Gate(Access::kRead);
      if (!gate.ok()) return gate;
      Request request;
      if (!ParseRequest(*in, &request)) return Malformed(request);
      grpc::Status refused;
      reactor = start(request, &refused);
      return refused;
    });
    if (reactor != nullptr) return reactor;
    return WatchReactor::Refuse(status, &watch_counters_);
  }

  WatchCounters* watch_counters() { return &watch_counters_; }
  ServiceStats Stats() const;

 private:
  template <typename Request>
  struct Parsed {
    ArenaPtr arena;
    Request* request = nullptr;
  };
  void CountIfInternal(const grpc::Status& status);

  Readiness& readiness_;
  WatchCounters watch_counters_;
  std::atomic<std::uint64_t> internal_errors_{0};
  WaitingReads waiting_reads_;
};

}  // namespace deviceapi::apiserver
