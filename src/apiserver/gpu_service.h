// GpuService over the gRPC callback API: request -> strategy -> store.
//
// Each RPC validates its request, maps it to one store call and maps the
// store's Error to the contract's status codes (see status_mapping.h); no
// internal detail reaches the client (S23). Watches are served by a reactor
// per stream driven by the store's Watcher callbacks; no thread per watcher.
#pragma once

#include <cstddef>
#include <memory>

#include "apiserver/readiness.h"
#include "device_api.grpc.pb.h"
#include "store/store.h"

namespace deviceapi::apiserver {

struct ServiceLimits {
  std::size_t max_conditions = 32;                    // S19
  std::size_t max_condition_message_bytes = 32u << 10;
  std::size_t max_labels = 64;                        // and annotations, each
  std::size_t max_label_bytes = 256u << 10;           // labels + annotations total
};

// Counters the service keeps for the metrics endpoint. Thread-safe reads.
struct ServiceStats {
  std::uint64_t watch_events_sent = 0;
  std::size_t active_watch_streams = 0;
};

class GpuServiceImpl final
    : public nvidia::nvsentinel::v1alpha1::GpuService::CallbackService {
 public:
  GpuServiceImpl(store::Store& store, Readiness& readiness, ServiceLimits limits);
  ~GpuServiceImpl() override;

  ServiceStats Stats() const;

  // ... RPC overrides (GetGpu, ListGpus, WatchGpus, CreateGpu, UpdateGpu,
  // UpdateGpuStatus, DeleteGpu) are declared in the implementation.

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi::apiserver
