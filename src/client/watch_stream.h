// WatchStream implementations behind Client::Watch.
#pragma once

#include <memory>

#include "deviceapi/client.h"

namespace deviceapi {

// A synchronous server-streaming read of WatchGpus; `canceller` (may be
// null) can end it from its opening on.
std::unique_ptr<WatchStream> MakeGrpcWatchStream(v1alpha1::GpuService::Stub* stub,
                                                 const v1alpha1::WatchGpusRequest& request,
                                                 CallCanceller* canceller);
// A stream that ends at once with `status` (e.g. unusable TLS settings).
std::unique_ptr<WatchStream> MakeFailedWatchStream(Status status);

// "ADDED" -> kAdded ...; false for an unknown type string.
bool ParseEventType(const std::string& text, EventType* out);

}  // namespace deviceapi
