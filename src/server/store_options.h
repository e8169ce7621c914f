// The bounds of the server's two stores (S14, S19, S33), from the flags.
//
// The GPU store takes the flags' values. The lease store holds one small object
// per provider (a holder name and its condition types), so its byte bounds are
// the GPU store's capped at kLeaseMaxTotalObjectBytes and kLeaseHistoryMaxBytes:
// the leases add at most those to the memory the flags bound, not a second copy
// of them. Its count bounds (objects, events, watchers) are the flags'.
#pragma once

#include <cstddef>

#include "server/config.h"
#include "store/store.h"

namespace deviceapi::server {

inline constexpr std::size_t kLeaseMaxTotalObjectBytes = 8u << 20;
inline constexpr std::size_t kLeaseHistoryMaxBytes = 4u << 20;

// Bounds only: the backend is left null for the caller to set.
store::StoreOptions GpuStoreOptions(const Config& config);
store::StoreOptions LeaseStoreOptions(const Config& config);

}  // namespace deviceapi::server
