// Helpers for a provider's conditions on a GpuStatus.
//
// A provider owns some condition types and must update them without touching
// anyone else's. SetCondition keeps last_transition_time unless the status
// actually changes, so re-asserting a condition is a no-op on the wire (the
// server then takes no revision and emits no event).
#pragma once

#include <chrono>
#include <string_view>

#include "deviceapi/types.h"

namespace deviceapi {

// Adds or replaces the condition of condition.type(). When an existing one has
// the same status, its last_transition_time is kept; when the status differs
// (or the condition is new), last_transition_time is set to `now` unless the
// caller set one. Returns true when `status` changed in any field.
bool SetCondition(GpuStatus* status, const Condition& condition,
                  std::chrono::system_clock::time_point now =
                      std::chrono::system_clock::now());

// Removes the condition of that type. Returns true when one was removed.
bool RemoveCondition(GpuStatus* status, std::string_view type);

// The condition of that type, or null.
const Condition* FindCondition(const GpuStatus& status, std::string_view type);
Condition* FindCondition(GpuStatus* status, std::string_view type);

// True when the condition exists with status "True".
bool IsConditionTrue(const GpuStatus& status, std::string_view type);

// Builds a condition (status "True", "False" or "Unknown").
Condition MakeCondition(std::string_view type, std::string_view status,
                        std::string_view reason = {}, std::string_view message = {});

}  // namespace deviceapi
