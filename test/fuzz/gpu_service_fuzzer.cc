// Fuzzes request decoding and validation of every GpuService RPC.
//
// The bytes go through the service's own raw handlers, called directly as
// gRPC calls them (grpc::testing::DefaultReactorTestPeer stands in for the
// call): parse onto an arena, registry, strategy, store. Each input runs on a
// fresh in-memory store whose revisions start at 1000, so the first write
// takes 1001 and seeds can name resource versions.
//
// Input: a sequence of calls, each
//   [method: 1 byte][length: 2 bytes, little-endian][request: length bytes]
// The method byte picks one of kMethods by its value modulo their number; a
// length past the end takes what is left.
//
// Oracles, besides sanitizers: no call answers INTERNAL (S23: an internal
// error here is a bug, since nothing below the service can fail), and every
// OK response parses as the RPC's response message (the service assembles
// responses from cached encodings by hand, wire_encoding.h).
#include <grpcpp/grpcpp.h>
#include <grpcpp/test/default_reactor_test_peer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "apiserver/gpu_service.h"
#include "apiserver/readiness.h"
#include "device_api.pb.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "store/store.h"

namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;
using deviceapi::apiserver::GpuServiceImpl;

// One in-process server: store, readiness (ready at once) and the service.
struct Server {
  Server() : store(Options()), readiness(0, std::chrono::milliseconds(0), [] { return 0; }) {
    if (!store.Open().ok()) std::abort();
    readiness.MarkStorageLoaded();
    service = std::make_unique<GpuServiceImpl>(store, readiness);
  }
  static deviceapi::store::StoreOptions Options() {
    deviceapi::store::StoreOptions o;
    o.initial_revision = 1000;
    // Small bounds, so that inputs reach the limits (S14, S16, S19).
    o.max_objects = 8;
    o.history_max_events = 16;
    o.max_watchers = 4;
    o.watcher_queue_capacity = 4;
    // A read at a future revision fails at once instead of after 3 s (S9).
    o.future_revision_wait = std::chrono::milliseconds(0);
    return o;
  }
  deviceapi::store::Store store;
  deviceapi::apiserver::Readiness readiness;
  std::unique_ptr<GpuServiceImpl> service;
};

[[noreturn]] void Fail(const char* method, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", method, what.c_str());
  std::abort();
}

grpc::ByteBuffer ToBuffer(const std::uint8_t* data, std::size_t size) {
  grpc::Slice slice(data, size);
  return grpc::ByteBuffer(&slice, 1);
}

// Calls one unary handler and checks its answer.
template <typename Response, typename Handler>
void Unary(const char* method, const grpc::ByteBuffer& request, Handler handler) {
  grpc::CallbackServerContext ctx;
  grpc::testing::DefaultReactorTestPeer peer(&ctx);
  grpc::ByteBuffer response;
  handler(&ctx, &request, &response);
  // Reads at a future revision finish from a thread of their own; the peer
  // says so only once that thread is done with the context.
  while (!peer.test_status_set()) std::this_thread::yield();
  const grpc::Status status = peer.test_status();
  if (status.error_code() == grpc::StatusCode::INTERNAL) Fail(method, status.error_message());
  if (!status.ok()) return;
  grpc::Slice bytes;
  if (!response.Valid() || !response.DumpToSingleSlice(&bytes).ok()) {
    Fail(method, "OK without a response");
  }
  Response parsed;
  if (!parsed.ParseFromArray(bytes.begin(), static_cast<int>(bytes.size()))) {
    Fail(method, "response does not parse");
  }
}

// WatchGpus returns a reactor that gRPC would bind to the stream. Unbound,
// it keeps its first write (or its refusal) pending; ending it as a client
// that went away frees the store's watcher.
void Watch(GpuServiceImpl& service, const grpc::ByteBuffer& request) {
  grpc::CallbackServerContext ctx;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* reactor = service.WatchGpus(&ctx, &request);
  reactor->OnCancel();
  reactor->OnDone();
}

void Call(Server& server, std::uint8_t method, const grpc::ByteBuffer& request) {
  GpuServiceImpl& s = *server.service;
  auto unary = [&s](auto fn) {
    return [&s, fn](auto* ctx, auto* req, auto* res) { (s.*fn)(ctx, req, res); };
  };
  switch (method % 8) {
    case 0: return Unary<v1::GetGpuResponse>("GetGpu", request, unary(&GpuServiceImpl::GetGpu));
    case 1: return Unary<v1::ListGpusResponse>("ListGpus", request, unary(&GpuServiceImpl::ListGpus));
    case 2: return Watch(s, request);
    case 3: return Unary<v1::Gpu>("CreateGpu", request, unary(&GpuServiceImpl::CreateGpu));
    case 4: return Unary<v1::Gpu>("UpdateGpu", request, unary(&GpuServiceImpl::UpdateGpu));
    case 5:
      return Unary<v1::Gpu>("UpdateGpuStatus", request, unary(&GpuServiceImpl::UpdateGpuStatus));
    case 6:
      return Unary<google::protobuf::Empty>("DeleteGpu", request, unary(&GpuServiceImpl::DeleteGpu));
    case 7: return Unary<v1::Gpu>("PatchGpu", request, unary(&GpuServiceImpl::PatchGpu));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every string field with invalid UTF-8 it refuses to parse;
  // the service answers those INVALID_ARGUMENT, which is all that matters.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Server server;
  while (size >= 3) {
    const std::uint8_t method = data[0];
    std::size_t length = data[1] | (static_cast<std::size_t>(data[2]) << 8);
    data += 3;
    size -= 3;
    if (length > size) length = size;
    Call(server, method, ToBuffer(data, length));
    data += length;
    size -= length;
  }
  return 0;
}
