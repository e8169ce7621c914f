// GpuStrategy: the GPU kind's rules on top of the generic ResourceStrategy.
//
// Names: a DNS-1123 subdomain, or a GPU UUID in NVML's canonical form
// ("GPU-" + 8-4-4-4-12 lowercase hex). An uppercase-hex UUID name is refused,
// so one device cannot be registered twice under two spellings.
// spec.uuid: required, "GPU-" + 8-4-4-4-12 hex (either case: it is an
// observed attribute, stored as reported).
// Conditions (S20, S19): type CamelCase or domain/CamelCase, unique; status
// True/False/Unknown; reason empty (as Kubernetes allows) or CamelCase;
// message at most max_condition_message_bytes; at most max_conditions.
// last_transition_time (S6): kept from the stored condition of the same type
// while its status is unchanged; otherwise the provider's value, or the
// server's clock when the provider left it empty.
#pragma once

#include "apiserver/resource_strategy.h"
#include "device_api.pb.h"

namespace deviceapi::apiserver {

class GpuStrategy final : public ResourceStrategy<nvidia::nvsentinel::v1alpha1::Gpu> {
 public:
  using Gpu = nvidia::nvsentinel::v1alpha1::Gpu;
  explicit GpuStrategy(ServiceLimits limits = {}) : ResourceStrategy(limits) {}

  std::string Root() const override { return "gpu"; }
  void ValidateName(std::string_view name, const std::string& path,
                    FieldErrors* errors) const override;
  void ValidateSpec(const Gpu& gpu, FieldErrors* errors) const override;
  void ValidateStatus(const Gpu& gpu, FieldErrors* errors) const override;
  void NormalizeStatus(Gpu* gpu, const Gpu* old,
                       const google::protobuf::Timestamp& now) const override;
  // Field by field: about a tenth of the cost of encoding both statuses,
  // and it runs under the store's write lock. A test fails when GpuStatus,
  // Condition or DeviceInfo gain a field this does not compare.
  bool StatusUnchanged(const Gpu& updated, const Gpu& old) const override;
};

// Limits of free-text status fields that S19 leaves to us.
inline constexpr std::size_t kMaxReasonBytes = 1024;
inline constexpr std::size_t kMaxRecommendedActionBytes = 1024;
inline constexpr std::size_t kMaxDeviceInfoBytes = 16u << 10;

}  // namespace deviceapi::apiserver
