#include "server/server_metrics.h"

#include <chrono>
#include <functional>

#include "metrics/process_metrics.h"
#include "metrics/registry.h"

namespace deviceapi::server {

void RegisterServerMetrics(metrics::Registry& registry, ServerMetricsSources sources,
                           const BuildInfo& build) {
  using metrics::CallbackSample;
  using metrics::MetricType;

  registry
      .AddGauge("device_apiserver_build_info",
                "Always 1; labels carry the version, commit, build date and compiler of the binary.",
                {"version", "commit", "build_date", "compiler"})
      .WithLabels({build.version, build.commit, build.build_date, build.compiler})
      .Set(1);

  const double start = std::chrono::duration<double>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  registry.AddGauge("device_apiserver_start_time_seconds",
                    "Start time of the server process, seconds since the Unix epoch.")
      .Get()
      .Set(start);

  metrics::RegisterProcessMetrics(registry);

  if (sources.ready) {
    registry.AddCallbackGauge("device_apiserver_ready",
                              "1 when the server serves reads (storage loaded and providers "
                              "registered or grace period over), else 0.",
                              [f = sources.ready] { return f() ? 1.0 : 0.0; });
  }

  if (auto stats = sources.store_stats) {
    using store::StoreStats;
    using Source = std::function<StoreStats()>;
    // Writes and watches of both stores (S16: an evicted lease watcher is
    // counted too); each term is monotonic, so the sums of counters are.
    // Objects, revision and history stay the GPU store's.
    Source both = stats;
    if (auto leases = sources.lease_store_stats) {
      both = [stats, leases] {
        StoreStats s = stats();
        const StoreStats l = leases();
        s.creates += l.creates;
        s.updates += l.updates;
        s.deletes += l.deletes;
        s.noop_updates += l.noop_updates;
        s.active_watchers += l.active_watchers;
        s.events_delivered += l.events_delivered;
        s.watchers_evicted += l.watchers_evicted;
        s.watches_expired += l.watches_expired;
        s.revision_waiters += l.revision_waiters;
        return s;
      };
    }
    auto gauge = [&](const char* name, const char* help, const Source& from, auto field) {
      registry.AddCallbackGauge(name, help, [from, field] { return static_cast<double>(field(from())); });
    };
    auto counter = [&](const char* name, const char* help, auto field) {
      registry.AddCallbackCounter(name, help, [both, field] { return static_cast<double>(field(both())); });
    };
    gauge("device_apiserver_store_objects", "Objects in the GPU store.", stats,
          [](const StoreStats& s) { return s.objects; });
    gauge("device_apiserver_store_object_bytes",
          "Memory the stored GPUs take (bounded by --max-total-object-bytes).", stats,
          [](const StoreStats& s) { return s.object_bytes; });
    gauge("device_apiserver_store_revision", "Current GPU store revision (the newest resourceVersion).", stats,
          [](const StoreStats& s) { return s.current_revision; });
    gauge("device_apiserver_history_events", "Events retained in the GPU watch history.", stats,
          [](const StoreStats& s) { return s.history_events; });
    gauge("device_apiserver_history_bytes", "Bytes of object versions held by the GPU watch history.", stats,
          [](const StoreStats& s) { return s.history_bytes; });
    gauge("device_apiserver_history_oldest_revision",
          "Oldest revision a GPU watch can resume from; 0 when the history is empty.", stats,
          [](const StoreStats& s) { return s.oldest_retained_revision; });
    registry.AddCallback(
        MetricType::kCounter, "device_apiserver_store_writes_total",
        "Successful writes to the stores (GPUs and leases), by verb.", {"verb"}, [both] {
          const StoreStats s = both();
          return std::vector<CallbackSample>{{{"create"}, static_cast<double>(s.creates)},
                                             {{"update"}, static_cast<double>(s.updates)},
                                             {{"delete"}, static_cast<double>(s.deletes)}};
        });
    counter("device_apiserver_store_noop_updates_total",
            "Updates (GPUs and leases) that changed nothing and took no revision.",
            [](const StoreStats& s) { return s.noop_updates; });
    gauge("device_apiserver_watchers", "Active watches (GPUs and leases).", both,
          [](const StoreStats& s) { return s.active_watchers; });
    counter("device_apiserver_watch_events_sent_total", "Events delivered to watchers (GPUs and leases).",
            [](const StoreStats& s) { return s.events_delivered; });
    counter("device_apiserver_watchers_evicted_total",
            "Watches (GPUs and leases) ended with RESOURCE_EXHAUSTED because the client read too slowly.",
            [](const StoreStats& s) { return s.watchers_evicted; });
    gauge("device_apiserver_waiting_reads",
          "Reads and watches (GPUs and leases) waiting for a resource version the store has not reached yet.",
          both, [](const StoreStats& s) { return s.revision_waiters; });
    counter("device_apiserver_watches_expired_total",
            "Watches (GPUs and leases) refused with OUT_OF_RANGE because the requested revision left the history.",
            [](const StoreStats& s) { return s.watches_expired; });
  }

  if (auto conditions = sources.gpu_conditions) {
    registry.AddCallback(MetricType::kGauge, "device_apiserver_gpus",
                         "GPUs by condition type and status (True, False, Unknown).",
                         {"condition", "status"}, [conditions] {
                           std::vector<CallbackSample> out;
                           for (const auto& [key, n] : conditions()) {
                             out.push_back({{key.first, key.second}, static_cast<double>(n)});
                           }
                           return out;
                         });
  }

  if (auto leases = sources.leases) {
    registry.AddCallback(MetricType::kGauge, "device_apiserver_leases",
                         "Provider leases by state: live (renewed in time) or expired.",
                         {"state"}, [leases] {
                           const LeaseCounts c = leases();
                           return std::vector<CallbackSample>{
                               {{"live"}, static_cast<double>(c.live)},
                               {{"expired"}, static_cast<double>(c.expired)}};
                         });
    registry.AddCallbackCounter(
        "device_apiserver_lease_expired_conditions_total",
        "GPU conditions the server set Unknown because the lease owning them expired.",
        [leases] { return static_cast<double>(leases().conditions_set_unknown); });
  }

  if (auto actions = sources.gpu_recommended_actions) {
    registry.AddCallback(MetricType::kGauge, "device_apiserver_gpus_recommended_action",
                         "GPUs by status.recommended_action (GPUs without one are not counted).",
                         {"action"}, [actions] {
                           std::vector<CallbackSample> out;
                           for (const auto& [action, n] : actions()) {
                             out.push_back({{action}, static_cast<double>(n)});
                           }
                           return out;
                         });
  }
}

}  // namespace deviceapi::server
