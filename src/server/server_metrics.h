// Every device-api-server metric family other than gRPC's (grpc_metrics.h).
// Values that live elsewhere (store, readiness, GPU conditions) are read at
// scrape time through the callbacks in ServerMetricsSources, so this file
// depends on no server internals and can be tested standalone.
//
// Metrics (all gauges unless the name ends in _total):
//   device_apiserver_build_info{version,commit,build_date,compiler}  always 1
//   device_apiserver_start_time_seconds      process start, Unix seconds
//   device_apiserver_ready                   1 when ready to serve reads (S21), else 0
//   device_apiserver_store_objects           objects in the GPU store (this, the revision and
//                                            the history families: the GPU store's)
//   device_apiserver_store_revision          current store revision (resourceVersion)
//   device_apiserver_history_events          events retained in the watch history (S14)
//   device_apiserver_history_bytes           bytes of object versions held by the history
//   device_apiserver_history_oldest_revision oldest revision a watch may resume from; 0 when empty
//   device_apiserver_store_writes_total{verb} successful writes, verb = create|update|delete
//                                            (this, the noop, watch and waiting-read
//                                            families: GPUs and leases summed)
//   device_apiserver_store_noop_updates_total updates that changed nothing (no revision, no event)
//   device_apiserver_watchers                active watches
//   device_apiserver_watch_events_sent_total events delivered to watchers
//   device_apiserver_watchers_evicted_total  watches ended as too slow (S16); alert when it grows
//   device_apiserver_watches_expired_total   watches refused as "too old resource version" (S14)
//   device_apiserver_gpus{condition,status}  GPUs per condition type and status
//                                            (True/False/Unknown), e.g.
//                                            {condition="Ready",status="False"}; at most
//                                            64 types, the rest as condition="other"
//   device_apiserver_gpus_recommended_action{action}  GPUs whose status.recommended_action
//                                            is `action` (RESTART_APP, RESET_GPU, RESTART_BM, ...);
//                                            at most 16, the rest as action="other"
//   device_apiserver_leases{state}           provider leases, state = live|expired (S28)
//   device_apiserver_lease_expired_conditions_total  conditions set Unknown by lease expiry
// plus the standard process_* metrics (metrics/process_metrics.h), and
//   device_apiserver_probe_connections_rejected_total{reason}, registered by
//   the probe listener (guarded_listener.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "base/build_info.h"
#include "store/store.h"

namespace deviceapi::metrics {
class Registry;
}

namespace deviceapi::server {

using base::BuildInfo;

// (condition type, status) -> number of GPUs with that condition in that status.
using ConditionCounts = std::map<std::pair<std::string, std::string>, std::size_t>;

// Provider leases (S28): how many are live and expired, and how many GPU
// conditions their expiry has set Unknown since the start.
struct LeaseCounts {
  std::size_t live = 0, expired = 0;
  std::uint64_t conditions_set_unknown = 0;
};

struct ServerMetricsSources {
  // Each may be null: its metrics are then not registered. Each is called
  // once per scrape per metric that uses it, from the scraping thread, so it
  // must be thread-safe and cheap (Store::Stats() is).
  std::function<store::StoreStats()> store_stats;
  // The lease store's: added into the write and watch families (objects,
  // revision and history stay the GPU store's). Used only with store_stats.
  std::function<store::StoreStats()> lease_store_stats;
  std::function<bool()> ready;
  std::function<ConditionCounts()> gpu_conditions;
  // recommended_action -> number of GPUs carrying it (empty actions left out).
  std::function<std::map<std::string, std::size_t>()> gpu_recommended_actions;
  std::function<LeaseCounts()> leases;
};

// Registers the families above in `registry`. Throws std::invalid_argument
// if called twice on the same registry. The sources are copied; whatever
// they capture must outlive the registry's last scrape.
void RegisterServerMetrics(metrics::Registry& registry, ServerMetricsSources sources,
                           const BuildInfo& build = BuildInfo::Current());

}  // namespace deviceapi::server
