// Turns the wire's option messages (strings, selectors, flags) into the
// store's typed options. Malformed input is kInvalid with the field path.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "apiserver/validation.h"
#include "device_api.pb.h"
#include "store/result.h"
#include "store/store.h"

namespace deviceapi::apiserver {

// "" -> nullopt; decimal digits that fit in 64 bits -> the value (leading
// zeros allowed, as Go's ParseUint). Anything else ("abc", "-1", "+1", " 1",
// overflow) is kInvalid "<path>: ...".
store::Result<std::optional<store::Revision>> ParseResourceVersion(std::string_view text,
                                                                   const std::string& path);

// ListGpus options. `ns` empty: all namespaces. resource_version_match:
// "" and "NotOlderThan" serve a state not older than resource_version (S9);
// "Exact" the state exactly at it (requires resource_version other than ""
// or "0"). NotOlderThan/Exact without resource_version, any other value,
// a bad selector (or one beyond `selector_limits`, S33) or a negative
// timeout_seconds are kInvalid.
store::Result<store::ListOptions> ToStoreListOptions(
    const std::string& ns, const nvidia::nvsentinel::v1alpha1::ListOptions& opts,
    const labels::SelectorLimits& selector_limits = ServiceLimits{}.selector);

// WatchGpus options: resource_version "" or "0" starts with the current
// objects (S13), "N" after revision N (S12); "Exact" is refused (a watch
// always starts from history or now); send_initial_events requires "" or "0";
// timeout_seconds (S18) must not be negative, 0 means none.
store::Result<store::WatchOptions> ToStoreWatchOptions(
    const std::string& ns, const nvidia::nvsentinel::v1alpha1::ListOptions& opts,
    const labels::SelectorLimits& selector_limits = ServiceLimits{}.selector);

}  // namespace deviceapi::apiserver
