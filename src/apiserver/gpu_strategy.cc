#include "apiserver/gpu_strategy.h"

#include <string>

#include "labels/names.h"

namespace deviceapi::apiserver {
namespace {

using nvidia::nvsentinel::v1alpha1::Condition;
using nvidia::nvsentinel::v1alpha1::DeviceInfo;

bool SameTime(const Condition& a, const Condition& b) {
  if (a.has_last_transition_time() != b.has_last_transition_time()) return false;
  return a.last_transition_time().seconds() == b.last_transition_time().seconds() &&
         a.last_transition_time().nanos() == b.last_transition_time().nanos();
}

bool SameCondition(const Condition& a, const Condition& b) {
  return a.type() == b.type() && a.status() == b.status() && a.reason() == b.reason() &&
         a.message() == b.message() && a.observed_generation() == b.observed_generation() &&
         SameTime(a, b);
}

bool SameDeviceInfo(const DeviceInfo& a, const DeviceInfo& b) {
  return a.product_name() == b.product_name() && a.pci_bus_id() == b.pci_bus_id() &&
         a.memory_total_bytes() == b.memory_total_bytes() &&
         a.driver_version() == b.driver_version() &&
         a.cuda_driver_version() == b.cuda_driver_version() && a.serial() == b.serial() &&
         a.architecture() == b.architecture() && a.minor_number() == b.minor_number() &&
         a.index() == b.index() && a.vbios_version() == b.vbios_version() &&
         a.board_part_number() == b.board_part_number();
}

}  // namespace

bool GpuStrategy::StatusUnchanged(const Gpu& updated, const Gpu& old) const {
  const auto& a = updated.status();
  const auto& b = old.status();
  if (a.conditions_size() != b.conditions_size() ||
      a.recommended_action() != b.recommended_action() ||
      a.has_device_info() != b.has_device_info()) {
    return false;
  }
  for (int i = 0; i < a.conditions_size(); ++i) {
    if (!SameCondition(a.conditions(i), b.conditions(i))) return false;
  }
  return !a.has_device_info() || SameDeviceInfo(a.device_info(), b.device_info());
}

void GpuStrategy::ValidateName(std::string_view name, const std::string& path,
                               FieldErrors* errors) const {
  ValidateObjectName(name, /*allow_gpu_uuid=*/true, path, errors);
}

void GpuStrategy::ValidateSpec(const Gpu& gpu, FieldErrors* errors) const {
  const std::string& uuid = gpu.spec().uuid();
  if (uuid.empty()) {
    AddInvalid(errors, "gpu.spec.uuid", "Required value");
  } else if (!IsGpuUuid(uuid, /*lowercase_only=*/false)) {
    AddInvalid(errors, "gpu.spec.uuid",
               "must be \"GPU-\" followed by 8-4-4-4-12 hexadecimal digits");
  }
}

void GpuStrategy::ValidateStatus(const Gpu& gpu, FieldErrors* errors) const {
  const auto& status = gpu.status();
  const ServiceLimits& lim = limits();
  if (static_cast<std::size_t>(status.conditions_size()) > lim.max_conditions) {
    AddTooMany(errors, "gpu.status.conditions",
               "must have at most " + std::to_string(lim.max_conditions) + " items (got " +
                   std::to_string(status.conditions_size()) + ")");
    return;  // don't spend time on thousands of items
  }
  // Paths are built only for errors: a valid status (nearly every write)
  // allocates nothing here.
  auto path = [](int i, const char* field) {
    return "gpu.status.conditions[" + std::to_string(i) + "]" + field;
  };
  for (int i = 0; i < status.conditions_size(); ++i) {
    const auto& c = status.conditions(i);
    if (c.type().empty()) {
      AddInvalid(errors, path(i, ".type"), "Required value");
    } else if (!IsConditionType(c.type())) {
      AddInvalid(errors, path(i, ".type"), "must be CamelCase or domain/CamelCase");
    } else {
      for (int j = 0; j < i; ++j) {  // quadratic, but in max_conditions, checked above
        if (status.conditions(j).type() == c.type()) {
          AddInvalid(errors, path(i, ".type"), "duplicate condition type \"" + c.type() + "\"");
          break;
        }
      }
    }
    if (c.status() != "True" && c.status() != "False" && c.status() != "Unknown") {
      AddInvalid(errors, path(i, ".status"), "must be one of \"True\", \"False\", \"Unknown\"");
    }
    if (c.reason().size() > kMaxReasonBytes) {
      AddInvalid(errors, path(i, ".reason"),
                 "must be at most " + std::to_string(kMaxReasonBytes) + " bytes");
    } else if (!c.reason().empty() && !IsCamelCase(c.reason())) {
      AddInvalid(errors, path(i, ".reason"), "must be empty or CamelCase");
    }
    if (c.message().size() > lim.max_condition_message_bytes) {
      AddTooMany(errors, path(i, ".message"),
                 "must be at most " + std::to_string(lim.max_condition_message_bytes) +
                     " bytes (got " + std::to_string(c.message().size()) + ")");
    }
    if (c.observed_generation() < 0) {
      AddInvalid(errors, path(i, ".observed_generation"), "must not be negative");
    }
    if (c.has_last_transition_time() && !IsValidTimestamp(c.last_transition_time())) {
      ValidateTimestamp(c.last_transition_time(), path(i, ".last_transition_time"), errors);
    }
  }
  if (status.recommended_action().size() > kMaxRecommendedActionBytes) {
    AddInvalid(errors, "gpu.status.recommended_action",
               "must be at most " + std::to_string(kMaxRecommendedActionBytes) + " bytes");
  }
  if (status.has_device_info() && status.device_info().ByteSizeLong() > kMaxDeviceInfoBytes) {
    AddTooMany(errors, "gpu.status.device_info",
               "must encode to at most " + std::to_string(kMaxDeviceInfoBytes) + " bytes");
  }
}

void GpuStrategy::NormalizeStatus(Gpu* gpu, const Gpu* old,
                                  const google::protobuf::Timestamp& now) const {
  auto* conditions = gpu->mutable_status()->mutable_conditions();
  for (int i = 0; i < conditions->size(); ++i) {
    auto& c = *conditions->Mutable(i);
    const Condition* before = nullptr;
    if (old != nullptr) {
      // Providers resend their conditions in the same order: look at the
      // same position first, and search only when it holds another type.
      const auto& previous = old->status().conditions();
      if (i < previous.size() && previous.Get(i).type() == c.type()) {
        before = &previous.Get(i);
      } else {
        for (const auto& o : previous) {
          if (o.type() == c.type()) {
            before = &o;
            break;
          }
        }
      }
    }
    if (before != nullptr && before->status() == c.status()) {
      // S6: same status, same transition time, whatever the provider sent.
      if (before->has_last_transition_time()) {
        *c.mutable_last_transition_time() = before->last_transition_time();
      } else {
        c.clear_last_transition_time();
      }
    } else if (!c.has_last_transition_time() ||
               (c.last_transition_time().seconds() == 0 && c.last_transition_time().nanos() == 0)) {
      *c.mutable_last_transition_time() = now;
    }
  }
}

}  // namespace deviceapi::apiserver
