#include "server/storage.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "apiserver/proto_object.h"
#include "device_api.pb.h"
#include "metrics/registry.h"
#include "store/sqlite_backend.h"

namespace deviceapi::server {
namespace {

template <typename Msg>
store::Result<std::shared_ptr<store::SqliteBackend>> OpenSqlite(const Config& config, std::string path,
                                                                metrics::Histogram& latency) {
  store::SqliteOptions options;
  options.path = std::move(path);
  options.full_sync = config.storage_full_sync;
  options.codec = std::make_shared<apiserver::ProtoCodec<Msg>>();
  options.on_commit = [&latency](double seconds) { latency.Observe(seconds); };
  // Half the history, within [64, 4096] events: a small history keeps a
  // small file, a large one compacts in runs long enough to rewrite each
  // object's row once for many of its events.
  options.compact_events = std::clamp<std::uint64_t>(config.history_max_events / 2, 64, 4096);
  options.history_max_events = config.history_max_events;
  return store::SqliteBackend::Open(std::move(options));
}

// The metrics of both files, each value summed over them. The registry
// outlives scrapes but not the process; the backends live as long as the
// stores, which outlive the admin server: weak pointers keep a late scrape
// harmless anyway.
void RegisterMetrics(metrics::Registry& registry, const std::shared_ptr<store::SqliteBackend>& gpus,
                     const std::shared_ptr<store::SqliteBackend>& leases) {
  using Weak = std::array<std::weak_ptr<store::SqliteBackend>, 2>;
  const Weak weak{gpus, leases};
  auto sum = [weak](auto field) {
    return [weak, field] {
      double total = 0;
      for (const auto& w : weak) {
        if (auto b = w.lock()) total += static_cast<double>(field(b->Stats()));
      }
      return total;
    };
  };
  using store::SqliteStats;
  registry.AddCallbackCounter("device_apiserver_storage_commits_total",
                              "Transactions committed to the databases (each holds a batch of writes).",
                              sum([](const SqliteStats& s) { return s.commits; }));
  registry.AddCallbackCounter("device_apiserver_storage_errors_total",
                              "Commits or recovery probes that failed: the write answered UNAVAILABLE.",
                              sum([](const SqliteStats& s) { return s.commit_errors; }));
  registry.AddCallbackCounter("device_apiserver_storage_compactions_total",
                              "Commits that dropped history beyond the history bounds from the databases.",
                              sum([](const SqliteStats& s) { return s.compactions; }));
  registry.AddCallbackGauge("device_apiserver_storage_database_bytes",
                            "Size of the database files (GPUs and leases).",
                            sum([](const SqliteStats& s) { return s.database_bytes; }));
  registry.AddCallbackGauge("device_apiserver_storage_wal_bytes",
                            "Size of the databases' write-ahead logs.",
                            sum([](const SqliteStats& s) { return s.wal_bytes; }));
  registry.AddCallbackGauge("device_apiserver_storage_healthy",
                            "1 while writes can be committed, 0 during a storage fault.", [weak] {
                              for (const auto& w : weak) {
                                auto b = w.lock();
                                if (!b || !b->Fault().empty()) return 0.0;
                              }
                              return 1.0;
                            });
}

}  // namespace

std::string Storage::Fault() const {
  if (std::string fault = gpus->Fault(); !fault.empty()) return fault;
  if (std::string fault = leases->Fault(); !fault.empty()) return "leases: " + fault;
  return "";
}

void Storage::Probe() const {
  for (store::Backend* backend : {gpus.get(), leases.get()}) {
    if (!backend->Fault().empty()) backend->Probe();
  }
}

std::string LeasesPath(const std::string& gpu_path) {
  constexpr std::string_view kExtension = ".db";
  std::string_view stem = gpu_path;
  if (stem.size() > kExtension.size() && stem.substr(stem.size() - kExtension.size()) == kExtension &&
      stem[stem.size() - kExtension.size() - 1] != '/') {
    stem.remove_suffix(kExtension.size());
  }
  return std::string(stem) + "-leases.db";
}

std::unique_ptr<Storage> OpenStorage(const Config& config, metrics::Registry& registry, std::string* error) {
  auto storage = std::make_unique<Storage>();
  if (config.storage_type == StorageType::kMemory) {
    storage->gpus = std::make_shared<store::MemoryBackend>();
    storage->leases = std::make_shared<store::MemoryBackend>();
    return storage;
  }
  // 100 µs to about 6.5 s: a commit without fsync takes tens of µs, one
  // with fsync on a busy disk can take seconds.
  auto& latency = registry
                      .AddHistogram("device_apiserver_storage_commit_duration_seconds",
                                    "Time to commit one transaction (a batch of writes) to a database.",
                                    {}, metrics::ExponentialBuckets(0.0001, 2, 17))
                      .Get();
  auto gpus = OpenSqlite<nvidia::nvsentinel::v1alpha1::Gpu>(config, config.storage_path, latency);
  if (!gpus.ok()) {
    *error = "--storage-endpoint \"" + config.storage_endpoint + "\": " + gpus.error().message;
    return nullptr;
  }
  const std::string leases_path = LeasesPath(config.storage_path);
  auto leases = OpenSqlite<nvidia::nvsentinel::v1alpha1::Lease>(config, leases_path, latency);
  if (!leases.ok()) {
    *error = "--storage-endpoint \"" + config.storage_endpoint + "\" (its leases' file " +
             leases_path + "): " + leases.error().message;
    return nullptr;
  }
  RegisterMetrics(registry, *gpus, *leases);
  storage->gpus = *gpus;
  storage->leases = *leases;
  return storage;
}

}  // namespace deviceapi::server
