#include "deviceapi/retry.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include <google/protobuf/util/message_differencer.h>

namespace deviceapi {

std::chrono::milliseconds Backoff::Delay(int attempt) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double base = static_cast<double>(initial.count()) * std::pow(factor, std::max(attempt, 0));
  base = std::min(base, static_cast<double>(max.count()));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double d = base * (1.0 + jitter * u(rng));
  return std::chrono::milliseconds(static_cast<long long>(d));
}

Status RetryOnConflict(const Backoff& backoff, const std::function<Status()>& fn) {
  Status last;
  int steps = std::max(backoff.steps, 1);
  for (int i = 0; i < steps; ++i) {
    last = fn();
    if (!last.IsConflict()) return last;
    if (i + 1 < steps) std::this_thread::sleep_for(backoff.Delay(i));
  }
  return last;
}

Status RetryOnConflict(const std::function<Status()>& fn) {
  return RetryOnConflict(Backoff{}, fn);
}

StatusOr<Gpu> UpdateStatusWithRetry(Client& client, std::string_view name,
                                    const std::function<bool(GpuStatus*)>& mutate,
                                    const GetOptions& options, const Backoff& backoff) {
  StatusOr<Gpu> result = Status(grpc::StatusCode::INTERNAL, "not attempted");
  Status s = RetryOnConflict(backoff, [&]() -> Status {
    StatusOr<Gpu> current = client.Get(name, options);
    if (!current.ok()) {
      result = current.status();
      return current.status();
    }
    Gpu next = *current;
    if (!mutate(next.mutable_status()) ||
        google::protobuf::util::MessageDifferencer::Equals(next.status(), current->status())) {
      result = std::move(current);
      return Status();
    }
    UpdateOptions uo;
    uo.call = options.call;
    result = client.UpdateStatus(next, uo);
    return result.status();
  });
  if (!s.ok()) return s;
  return result;
}

}  // namespace deviceapi
