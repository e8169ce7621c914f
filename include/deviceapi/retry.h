// Retrying optimistic-concurrency conflicts.
//
// Writers that read-modify-write an object send the resource_version they
// read; the server answers IsConflict() when someone else wrote in between.
// The cure is to re-read, re-apply the change and try again.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include "deviceapi/client.h"
#include "deviceapi/status.h"

namespace deviceapi {

// Exponential backoff with jitter: attempt i waits
// min(initial * factor^i, max) * (1 + jitter * U[0,1)).
struct Backoff {
  int steps = 10;  // attempts in total
  std::chrono::milliseconds initial{5};
  double factor = 2.0;
  double jitter = 0.5;
  std::chrono::milliseconds max{1000};

  std::chrono::milliseconds Delay(int attempt) const;
};

// Runs `fn` until it returns anything but a conflict, at most backoff.steps
// times. Returns fn's last status.
Status RetryOnConflict(const Backoff& backoff, const std::function<Status()>& fn);
Status RetryOnConflict(const std::function<Status()>& fn);

// The whole provider write in one call: Get the object, let `mutate` change
// its status (return false for "nothing to do"), UpdateStatus with the
// resource_version read, retry on conflict. Conditions other providers wrote
// meanwhile survive because each attempt starts from a fresh read. Returns
// the stored object (the read one when mutate returned false or the change
// was a no-op).
StatusOr<Gpu> UpdateStatusWithRetry(Client& client, std::string_view name,
                                    const std::function<bool(GpuStatus*)>& mutate,
                                    const GetOptions& options = {},
                                    const Backoff& backoff = {});

}  // namespace deviceapi
