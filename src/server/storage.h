// The store's backend as the flags chose it (--storage-type,
// --storage-endpoint, --storage-sync), with its metrics:
//   device_apiserver_storage_commit_duration_seconds  histogram of transaction commits
//   device_apiserver_storage_commits_total            transactions committed (each a batch of writes)
//   device_apiserver_storage_errors_total             failed commits and probes (S26)
//   device_apiserver_storage_compactions_total        commits that dropped history (S27)
//   device_apiserver_storage_database_bytes           size of the database file
//   device_apiserver_storage_wal_bytes                size of its write-ahead log
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

// Opens the configured backend and registers its metrics in `registry`.
// Null with `error` set (one line naming the flag) when it cannot be opened:
// locked by another server, newer schema, corrupted, unreadable (S26).
std::shared_ptr<store::Backend> OpenStorage(const Config& config, metrics::Registry& registry,
                                            std::string* error);

}  // namespace deviceapi::server
