// WatchStream implementations behind Client::Watch.
#pragma once

#include <memory>

#include "deviceapi/client.h"

namespace deviceapi {

// A synchronous server-streaming read of WatchGpus.
std::unique_ptr<WatchStream> MakeGrpcWatchStream(v1alpha1::GpuService::Stub* stub,
                                                 const v1alpha1::WatchGpusRequest& request);
// A stream that ends at once with `status` (e.g. unusable TLS settings).
std::unique_ptr<WatchStream> MakeFailedWatchStream(Status status);

// "ADDED" -> kAdded ...; false for an unknown type string.
bool ParseEventType(const std::string& text, EventType* out);

}  // namespace deviceapi
