// GpuService over the gRPC callback API: request -> strategy -> store.
//
// Each RPC parses its request itself (raw ByteBuffer methods), so a malformed
// request (garbage bytes, wrong wire types, invalid UTF-8) is answered
// INVALID_ARGUMENT instead of gRPC's generic INTERNAL; unknown fields are
// dropped, never stored. Responses are assembled from the objects' cached
// encodings (wire_encoding.h): an object is serialized once, whatever the
// number of readers and watchers.
//
// Errors map as status_mapping.h says; no internal detail reaches the client
// (S23): handlers catch every exception and answer INTERNAL "internal error".
// Readiness (S21): Get/List/Watch answer UNAVAILABLE "not ready: waiting for
// providers" until Readiness::IsReady(); writes are accepted. After
// Readiness::BeginShutdown() every new call answers UNAVAILABLE; open watches
// end with UNAVAILABLE when the store shuts down (Store::Shutdown, S22).
// Watches are served by a WatchReactor per stream driven by the store's
// Watcher callbacks; no thread per watcher.
//
// Thread-safe. `store` and `readiness` must outlive the service, and the
// service must outlive the grpc::Server it is registered with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "apiserver/readiness.h"
#include "apiserver/validation.h"  // ServiceLimits
#include "device_api.grpc.pb.h"
#include "store/store.h"

namespace deviceapi::apiserver {

// Counters the service keeps for the metrics endpoint. Thread-safe reads.
struct ServiceStats {
  std::uint64_t watch_events_sent = 0;     // events written to watch streams
  std::size_t active_watch_streams = 0;    // open WatchGpus streams
  std::uint64_t watch_streams_too_slow = 0;  // streams ended RESOURCE_EXHAUSTED (S16)
  std::uint64_t internal_errors = 0;       // calls answered INTERNAL (S23)
};

namespace detail {
namespace v1 = nvidia::nvsentinel::v1alpha1;
// Every method raw: the service parses requests and builds responses itself.
using GpuRawService = v1::GpuService::WithRawCallbackMethod_GetGpu<
    v1::GpuService::WithRawCallbackMethod_ListGpus<v1::GpuService::WithRawCallbackMethod_WatchGpus<
        v1::GpuService::WithRawCallbackMethod_CreateGpu<v1::GpuService::WithRawCallbackMethod_UpdateGpu<
            v1::GpuService::WithRawCallbackMethod_UpdateGpuStatus<
                v1::GpuService::WithRawCallbackMethod_DeleteGpu<v1::GpuService::CallbackService>>>>>>>;
}  // namespace detail

// Register with grpc::ServerBuilder::RegisterService(&service).
class GpuServiceImpl final : public detail::GpuRawService {
 public:
  GpuServiceImpl(store::Store& store, Readiness& readiness, ServiceLimits limits = {});
  ~GpuServiceImpl() override;
  GpuServiceImpl(const GpuServiceImpl&) = delete;
  GpuServiceImpl& operator=(const GpuServiceImpl&) = delete;

  ServiceStats Stats() const;

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

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::apiserver
