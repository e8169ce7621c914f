// The provider's own Prometheus metrics (served on its /metrics).
#pragma once
#include <cstdint>
#include <string>

#include "metrics/registry.h"

namespace deviceapi::nvml {

struct ProviderMetrics {
  explicit ProviderMetrics(metrics::Registry& r)
      : events(r.AddCounter("nvml_provider_events_total", "NVML events seen, by type and Xid", {"type", "xid"})),
        nvml_errors(r.AddCounter("nvml_provider_nvml_errors_total", "NVML calls that failed, by call", {"call"})),
        server_writes(r.AddCounter("nvml_provider_server_requests_total", "Requests to the device API server, by operation and result",
                                   {"op", "result"})),
        last_sync(r.AddGauge("nvml_provider_last_successful_sync_timestamp_seconds",
                             "Unix time of the last full reconcile with the server that succeeded")),
        gpus(r.AddGauge("nvml_provider_gpus", "GPUs NVML reports")),
        unhealthy(r.AddGauge("nvml_provider_unhealthy_gpus", "GPUs whose NVMLReady is False")),
        connected(r.AddGauge("nvml_provider_server_connected", "1 when the last call to the server succeeded")),
        publish_latency(r.AddHistogram("nvml_provider_publish_seconds",
                                       "From an NVML event to the server acknowledging the status write", {},
                                       {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5})) {}
  metrics::CounterFamily& events;
  metrics::CounterFamily& nvml_errors;
  metrics::CounterFamily& server_writes;
  metrics::GaugeFamily& last_sync;
  metrics::GaugeFamily& gpus;
  metrics::GaugeFamily& unhealthy;
  metrics::GaugeFamily& connected;
  metrics::HistogramFamily& publish_latency;
};

}  // namespace deviceapi::nvml
