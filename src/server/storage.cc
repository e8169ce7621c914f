#include "server/storage.h"

#include "apiserver/proto_object.h"
#include "device_api.pb.h"
#include "metrics/registry.h"
#include "store/sqlite_backend.h"

namespace deviceapi::server {

std::shared_ptr<store::Backend> OpenStorage(const Config& config, metrics::Registry& registry,
                                            std::string* error) {
  if (config.storage_type == StorageType::kMemory) return std::make_shared<store::MemoryBackend>();
  // 100 µs to about 6.5 s: a commit without fsync takes tens of µs, one
  // with fsync on a busy disk can take seconds.
  auto& latency = registry
                      .AddHistogram("device_apiserver_storage_commit_duration_seconds",
                                    "Time to commit one transaction (a batch of writes) to the database.",
                                    {}, metrics::ExponentialBuckets(0.0001, 2, 17))
                      .Get();
  store::SqliteOptions options;
  options.path = config.storage_path;
  options.full_sync = config.storage_full_sync;
  options.codec = std::make_shared<apiserver::ProtoCodec<nvidia::nvsentinel::v1alpha1::Gpu>>();
  options.on_commit = [&latency](double seconds) { latency.Observe(seconds); };
  auto opened = store::SqliteBackend::Open(std::move(options));
  if (!opened.ok()) {
    *error = "--storage-endpoint \"" + config.storage_endpoint + "\": " + opened.error().message;
    return nullptr;
  }
  std::shared_ptr<store::SqliteBackend> backend = *opened;
  // The registry outlives scrapes but not the process; the backend lives as
  // long as the store, which outlives the admin server: a weak pointer keeps
  // a late scrape harmless anyway.
  std::weak_ptr<store::SqliteBackend> weak = backend;
  auto stat = [weak](auto field) {
    return [weak, field] {
      auto b = weak.lock();
      return b ? static_cast<double>(field(b->Stats())) : 0.0;
    };
  };
  using store::SqliteStats;
  registry.AddCallbackCounter("device_apiserver_storage_commits_total",
                              "Transactions committed to the database (each holds a batch of writes).",
                              stat([](const SqliteStats& s) { return s.commits; }));
  registry.AddCallbackCounter("device_apiserver_storage_errors_total",
                              "Commits or recovery probes that failed: the write answered UNAVAILABLE.",
                              stat([](const SqliteStats& s) { return s.commit_errors; }));
  registry.AddCallbackCounter("device_apiserver_storage_compactions_total",
                              "Commits that dropped history beyond the history bounds from the database.",
                              stat([](const SqliteStats& s) { return s.compactions; }));
  registry.AddCallbackGauge("device_apiserver_storage_database_bytes", "Size of the database file.",
                            stat([](const SqliteStats& s) { return s.database_bytes; }));
  registry.AddCallbackGauge("device_apiserver_storage_wal_bytes", "Size of the database's write-ahead log.",
                            stat([](const SqliteStats& s) { return s.wal_bytes; }));
  registry.AddCallbackGauge("device_apiserver_storage_healthy",
                            "1 while writes can be committed, 0 during a storage fault.", [weak] {
                              auto b = weak.lock();
                              return b && b->Fault().empty() ? 1.0 : 0.0;
                            });
  return backend;
}

}  // namespace deviceapi::server
