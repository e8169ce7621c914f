// The SDK speaks the wire contract's own protobuf messages: a Gpu here is
// exactly nvidia.nvsentinel.v1alpha1.Gpu. These aliases keep user code short.
#pragma once

#include "device_api.grpc.pb.h"
#include "device_api.pb.h"

namespace deviceapi {

namespace v1alpha1 = ::nvidia::nvsentinel::v1alpha1;

using Gpu = v1alpha1::Gpu;
using GpuList = v1alpha1::GpuList;
using GpuSpec = v1alpha1::GpuSpec;
using GpuStatus = v1alpha1::GpuStatus;
using Condition = v1alpha1::Condition;
using DeviceInfo = v1alpha1::DeviceInfo;
using ObjectMeta = v1alpha1::ObjectMeta;

// The namespace single-object requests use when none is given.
inline constexpr const char* kDefaultNamespace = "default";

// Condition status values.
inline constexpr const char* kConditionTrue = "True";
inline constexpr const char* kConditionFalse = "False";
inline constexpr const char* kConditionUnknown = "Unknown";

}  // namespace deviceapi
