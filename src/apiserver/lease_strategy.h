// LeaseStrategy: the Lease kind's rules on top of the generic
// ResourceStrategy (S30). A Lease has metadata and spec, no status.
//
// spec.lease_duration_seconds: 1-3600. spec.condition_types: valid
// condition types (S20), no duplicates, at most max_conditions.
// spec.holder_identity: at most 253 bytes (empty: released).
// spec.lease_transitions: not negative. Timestamps: valid.
// Server-maintained (PrepareSpec): renew_time is the server's clock when the
// writer leaves it empty; a change of holder_identity counts one more
// lease_transitions than the stored lease and sets acquire_time when the
// writer left it empty (S29: a take-over).
//
// That no condition type is owned by two live leases needs the other leases:
// the LeaseController checks it (lease_controller.h), not this stateless
// strategy.
#pragma once

#include "apiserver/resource_strategy.h"
#include "device_api.pb.h"

namespace deviceapi::apiserver {

inline constexpr int kMaxLeaseDurationSeconds = 3600;
inline constexpr std::size_t kMaxHolderIdentityBytes = 253;

class LeaseStrategy final : public ResourceStrategy<nvidia::nvsentinel::v1alpha1::Lease> {
 public:
  using Lease = nvidia::nvsentinel::v1alpha1::Lease;
  explicit LeaseStrategy(ServiceLimits limits = {}) : ResourceStrategy(limits) {}

  std::string Root() const override { return "lease"; }
  void ValidateSpec(const Lease& lease, FieldErrors* errors) const override;
  void ValidateStatus(const Lease&, FieldErrors*) const override {}
  void PrepareSpec(Lease* lease, const Lease* old) const override;
};

}  // namespace deviceapi::apiserver
