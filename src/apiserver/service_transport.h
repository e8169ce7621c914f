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
//   - Stream: gate, parse, open the store watcher, serve it with a
//     WatchReactor.
// Reads and watches that must wait for a future revision (S9) wait in the
// store's waiter list (Store::WaitForRevision) and are answered or started
// from its callback: no thread is held while they wait (S32), and their
// number is bounded by the store (RESOURCE_EXHAUSTED past it, S33).
//
// Thread-safe. `readiness` and `store` must outlive the transport; the
// store's Shutdown answers every waiting call.
#pragma once

#include <grpcpp/grpcpp.h>
#include <google/protobuf/arena.h>
#include <google/protobuf/message.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "apiserver/proto_object.h"
#include "apiserver/readiness.h"
#include "apiserver/status_mapping.h"
#include "apiserver/watch_reactor.h"
#include "store/store.h"

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

class ServiceTransport {
 public:
  enum class Access { kRead, kWrite };

  ServiceTransport(Readiness& readiness, const store::Store& store)
      : readiness_(readiness), store_(store) {}
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
  // `waits(request)` names the future revision a read must wait for, if
  // any: the call then waits in the store's waiter list and `handle` runs
  // from its callback once the revision is reached (S9, S32). An error from
  // `waits` (a request that would be refused anyway) answers at once.
  template <typename Request, typename Handler, typename Waits>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const char* method,
                                  Access access, const grpc::ByteBuffer* in, Handler handle,
                                  Waits waits) {
    static_assert(std::is_same_v<std::invoke_result_t<Waits, const Request&>, WaitFor>,
                  "waits(request) names the revision to wait for, nullopt, or the request's error");
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto call = std::make_shared<Parsed<Request>>();
    std::optional<store::Revision> wait_for;
    grpc::Status status = Guarded(method, [&]() -> grpc::Status {
      grpc::Status admitted = Admit(access, in, &call->arena, &call->request);
      if (!admitted.ok()) return admitted;
      auto waiting = waits(*call->request);
      if (!waiting.ok()) return ToGrpcStatus(waiting.error(), method);
      wait_for = *waiting;
      if (wait_for) return grpc::Status::OK;
      return handle(*call->request, call->arena);
    });
    if (!status.ok() || !wait_for) {
      reactor->Finish(status);
      return reactor;
    }
    store_.WaitForRevision(*wait_for, [this, reactor, method, call, handle](store::Result<bool> reached) {
      reactor->Finish(Guarded(method, [&]() -> grpc::Status {
        if (!reached.ok()) return ToGrpcStatus(reached.error(), method);
        return handle(*call->request, call->arena);
      }));
    });
    return reactor;
  }

  // How an asynchronous handler answers its call: `answer(body)` runs
  // body() as Guarded does and finishes the call with the status it returns.
  // Copyable; only the first answer of a call counts.
  class Answer {
   public:
    Answer(ServiceTransport* transport, grpc::ServerUnaryReactor* reactor, const char* method)
        : transport_(transport), reactor_(reactor), method_(method), answered_(std::make_shared<std::atomic<bool>>()) {}
    template <typename Body>
    void operator()(Body&& body) const {
      Finish(transport_->Guarded(method_, std::forward<Body>(body)));
    }
    void Finish(const grpc::Status& status) const {
      if (!answered_->exchange(true)) reactor_->Finish(status);
    }
    grpc::ServerUnaryReactor* reactor() const { return reactor_; }

   private:
    ServiceTransport* transport_;
    grpc::ServerUnaryReactor* reactor_;
    const char* method_;
    std::shared_ptr<std::atomic<bool>> answered_;
  };

  // Runs one unary write: gate, parse, then `handle(request, arena, answer)`
  // starts the write, which `answer` finishes at once or later, from the
  // store's committer once the write is durable: no thread waits for a
  // commit (S32). A handler that throws answers INTERNAL unless it had
  // answered already.
  template <typename Request, typename Handler>
  grpc::ServerUnaryReactor* UnaryWrite(grpc::CallbackServerContext* ctx, const char* method,
                                       const grpc::ByteBuffer* in, Handler handle) {
    Answer answer(this, ctx->DefaultReactor(), method);
    grpc::Status refused = Guarded(method, [&]() -> grpc::Status {
      ArenaPtr arena;
      Request* request = nullptr;
      grpc::Status admitted = Admit(Access::kWrite, in, &arena, &request);
      if (!admitted.ok()) return admitted;
      handle(*request, arena, answer);
      return grpc::Status::OK;
    });
    if (!refused.ok()) answer.Finish(refused);
    return answer.reactor();
  }

  // Opens a watch stream: gate, parse, then `open(request)` opens the store
  // watcher that `encoder` serves; `subject(request)` names the watch in the
  // line logged if it is ended as too slow. When `waits(request)` names a future
  // revision, the stream first waits for it in the store's waiter list and
  // opens from its callback (S9, S32); an error from it refuses the stream.
  template <typename Request, typename Subject, typename Open, typename Waits>
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Stream(const char* method, const grpc::ByteBuffer* in,
                                                     WatchReactor::Encoder encoder, Subject subject,
                                                     Open open, Waits waits) {
    WatchReactor* reactor = nullptr;
    grpc::Status status = Guarded(method, [&]() -> grpc::Status {
      grpc::Status gate = Gate(Access::kRead);
      if (!gate.ok()) return gate;
      auto request = std::make_shared<Request>();
      if (!ParseRequest(*in, request.get())) return Malformed(*request);
      auto waiting = waits(*request);
      if (!waiting.ok()) return ToGrpcStatus(waiting.error(), method);
      if (auto wait_for = *waiting) {
        auto [pending_reactor, pending] = WatchReactor::StartPending(subject(*request), encoder, &watch_counters_);
        reactor = pending_reactor;
        store_.WaitForRevision(*wait_for, [this, method, pending = pending, request,
                                           open](store::Result<bool> reached) {
          grpc::Status refused = Guarded(method, [&]() -> grpc::Status {
            if (!reached.ok()) return ToGrpcStatus(reached.error(), method);
            auto watcher = open(*request);
            if (!watcher.ok()) return ToGrpcStatus(watcher.error(), method);
            pending.Begin(std::move(watcher).value());
            return grpc::Status::OK;
          });
          if (!refused.ok()) pending.Refuse(refused);
        });
        return grpc::Status::OK;
      }
      auto watcher = open(*request);
      if (!watcher.ok()) return ToGrpcStatus(watcher.error(), method);
      reactor = WatchReactor::Start(subject(*request), std::move(watcher).value(), encoder, &watch_counters_);
      return grpc::Status::OK;
    });
    if (reactor != nullptr) return reactor;
    return WatchReactor::Refuse(status, &watch_counters_);
  }

  // What a read waits for before it is served: nothing, a revision the
  // store has not reached yet, or the error that refuses the request.
  using WaitFor = store::Result<std::optional<store::Revision>>;

  // The revision `rv` names when the store has not reached it yet.
  std::optional<store::Revision> FutureRevision(const std::string& rv) const;

  // FutureRevision(rv), for a request that `check()` finds valid: only a
  // request that would be served waits; one that would be refused is
  // refused at once, with its own error rather than "too large resource
  // version" after the wait, and holds no waiter (S9, S32).
  template <typename Check>
  WaitFor FutureRevisionIfValid(const std::string& rv, Check check) const {
    auto wanted = FutureRevision(rv);
    if (!wanted) return std::optional<store::Revision>{};
    if (auto valid = check(); !valid.ok()) return valid.error();
    return wanted;
  }

  WatchCounters* watch_counters() { return &watch_counters_; }
  ServiceStats Stats() const;

 private:
  // The first steps of every unary call: the gate, then the request parsed
  // onto an arena of its own, sized for it.
  template <typename Request>
  grpc::Status Admit(Access access, const grpc::ByteBuffer* in, ArenaPtr* arena, Request** request) {
    grpc::Status gate = Gate(access);
    if (!gate.ok()) return gate;
    *arena = NewMessageArena(in->Valid() ? in->Length() : 0);
    *request = google::protobuf::Arena::CreateMessage<Request>(arena->get());
    if (!ParseRequest(*in, *request)) return Malformed(**request);
    return grpc::Status::OK;
  }

  template <typename Request>
  struct Parsed {
    ArenaPtr arena;
    Request* request = nullptr;
  };
  void CountIfInternal(const grpc::Status& status);

  Readiness& readiness_;
  const store::Store& store_;
  WatchCounters watch_counters_;
  std::atomic<std::uint64_t> internal_errors_{0};
};

}  // namespace deviceapi::apiserver
