#include "apiserver/lease_strategy.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace deviceapi::apiserver {

void LeaseStrategy::ValidateSpec(const Lease& lease, FieldErrors* errors) const {
  const auto& spec = lease.spec();
  if (spec.lease_duration_seconds() < 1 || spec.lease_duration_seconds() > kMaxLeaseDurationSeconds) {
    AddInvalid(errors, "lease.spec.lease_duration_seconds",
               "must be between 1 and " + std::to_string(kMaxLeaseDurationSeconds));
  }
  if (spec.holder_identity().size() > kMaxHolderIdentityBytes) {
    AddInvalid(errors, "lease.spec.holder_identity",
               "must be at most " + std::to_string(kMaxHolderIdentityBytes) + " bytes");
  }
  if (spec.lease_transitions() < 0) {
    AddInvalid(errors, "lease.spec.lease_transitions", "must not be negative");
  }
  if (spec.has_acquire_time()) {
    ValidateTimestamp(spec.acquire_time(), "lease.spec.acquire_time", errors);
  }
  if (spec.has_renew_time()) ValidateTimestamp(spec.renew_time(), "lease.spec.renew_time", errors);
  if (static_cast<std::size_t>(spec.condition_types_size()) > limits().max_conditions) {
    AddTooMany(errors, "lease.spec.condition_types",
               "must have at most " + std::to_string(limits().max_conditions) + " items");
    return;
  }
  for (int i = 0; i < spec.condition_types_size(); ++i) {
    const std::string& type = spec.condition_types(i);
    const std::string path = "lease.spec.condition_types[" + std::to_string(i) + "]";
    if (!IsConditionType(type)) {
      AddInvalid(errors, path, "must be CamelCase or domain/CamelCase");
      continue;
    }
    for (int j = 0; j < i; ++j) {
      if (spec.condition_types(j) == type) {
        AddInvalid(errors, path, "duplicate condition type \"" + type + "\"");
        break;
      }
    }
  }
}

namespace {

// The clock with microseconds, as Kubernetes' MicroTime for lease times:
// TimeUtil::GetCurrentTime() has whole seconds here, which would make a
// renewal within the same second a no-op and move deadlines up to a second.
google::protobuf::Timestamp MicroNow() {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(us);
}

}  // namespace

void LeaseStrategy::PrepareSpec(Lease* lease, const Lease* old) const {
  const auto now = MicroNow();
  auto* spec = lease->mutable_spec();
  if (!spec->has_renew_time()) *spec->mutable_renew_time() = now;
  const bool new_holder = old == nullptr || old->spec().holder_identity() != spec->holder_identity();
  if (old != nullptr && new_holder && !spec->holder_identity().empty()) {
    // Saturates: validation accepts any non-negative count, and a count
    // that wrapped negative would make every later update invalid.
    const auto transitions = old->spec().lease_transitions();
    spec->set_lease_transitions(transitions < std::numeric_limits<std::int32_t>::max() ? transitions + 1
                                                                                     : transitions);
  }
  if (new_holder && !spec->has_acquire_time()) *spec->mutable_acquire_time() = now;
}

}  // namespace deviceapi::apiserver
