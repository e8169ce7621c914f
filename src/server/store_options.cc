#include "server/store_options.h"

#include <algorithm>

namespace deviceapi::server {

store::StoreOptions GpuStoreOptions(const Config& config) {
  store::StoreOptions options;
  options.max_objects = config.max_objects;
  options.max_total_object_bytes = config.max_total_object_bytes;
  options.history_max_events = config.history_max_events;
  options.history_max_bytes = config.history_max_bytes;
  options.max_watchers = config.max_watchers;
  options.max_revision_waiters = config.max_waiting_reads;
  options.watcher_queue_capacity = config.watch_queue_size;
  options.bookmark_interval = config.bookmark_interval;
  return options;
}

store::StoreOptions LeaseStoreOptions(const Config& config) {
  store::StoreOptions options = GpuStoreOptions(config);
  options.max_total_object_bytes = std::min(options.max_total_object_bytes, kLeaseMaxTotalObjectBytes);
  options.history_max_bytes = std::min(options.history_max_bytes, kLeaseHistoryMaxBytes);
  return options;
}

}  // namespace deviceapi::server
