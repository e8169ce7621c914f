// The server's backends as the flags chose them (--storage-type,
// --storage-endpoint, --storage-sync): one for GPUs and one for leases, each
// store with its own revisions and history. With SQLite each has its own
// database file: the endpoint's, and next to it the leases' (LeasesPath), so
// that a restart keeps both the conditions and the leases that own them
// (S28: a provider that stopped before the restart still expires after it).
//
// Metrics, summed over both files:
//   device_apiserver_storage_commit_duration_seconds  histogram of transaction commits
//   device_apiserver_storage_commits_total            transactions committed (each a batch of writes)
//   device_apiserver_storage_errors_total             failed commits and probes (S26)
//   device_apiserver_storage_compactions_total        commits that dropped history (S27)
//   device_apiserver_storage_database_bytes           size of the database files
//   device_apiserver_storage_wal_bytes                size of their write-ahead logs
//   device_apiserver_storage_healthy                  0 while writes cannot be committed
// The memory backend registers none of them.
#pragma once

#include <memory>
#include <string>

#include "server/config.h"
#include "store/backend.h"

namespace deviceapi::metrics {
class Registry;
}

namespace deviceapi::server {

struct Storage {
  std::shared_ptr<store::Backend> gpus;
  std::shared_ptr<store::Backend> leases;

  // "" while both commit; else the first fault, naming its file's role.
  std::string Fault() const;
  // Probes each faulted backend (Backend::Probe).
  void Probe() const;
};

// The leases' database next to the GPUs': "/d/state.db" -> "/d/state-leases.db"
// (a name without ".db" gets "-leases.db" appended).
std::string LeasesPath(const std::string& gpu_path);

// Opens the configured backends and registers their metrics in `registry`.
// Null with `error` set (one line naming the flag) when one cannot be opened:
// locked by another server, newer schema, corrupted, unreadable (S26).
std::unique_ptr<Storage> OpenStorage(const Config& config, metrics::Registry& registry,
                                     std::string* error);

}  // namespace deviceapi::server
