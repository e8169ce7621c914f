#include "apiserver/request_options.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "apiserver/validation.h"
#include "labels/names.h"

namespace deviceapi::apiserver {
namespace {

store::Error Invalid(std::string message) {
  return store::MakeError(store::ErrorCode::kInvalid, std::move(message));
}

// Namespace filters of list and watch: empty (all) or a DNS-1123 label.
std::optional<store::Error> CheckNamespaceFilter(const std::string& ns) {
  if (ns.empty() || labels::IsDns1123Label(ns)) return std::nullopt;
  return Invalid("namespace: " + Quote(ns) + ": must be a DNS-1123 label");
}

// The label selector of list and watch (S10), within its bounds (S33).
std::optional<store::Error> ParseSelector(const std::string& text, const labels::SelectorLimits& limits,
                                          labels::Selector* out) {
  labels::ParsedSelector parsed = labels::Selector::Parse(text, limits);
  if (!parsed.ok()) return Invalid("opts.label_selector: " + parsed.error());
  *out = std::move(*parsed);
  return std::nullopt;
}

}  // namespace

store::Result<std::optional<store::Revision>> ParseResourceVersion(std::string_view text,
                                                                   const std::string& path) {
  if (text.empty()) return std::optional<store::Revision>{};
  store::Revision value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return Invalid(path + ": " + Quote(text) + ": must be a decimal resource version");
    }
    const store::Revision digit = static_cast<store::Revision>(c - '0');
    if (value > (std::numeric_limits<store::Revision>::max() - digit) / 10) {
      return Invalid(path + ": " + Quote(text) + ": resource version out of range");
    }
    value = value * 10 + digit;
  }
  return std::optional<store::Revision>{value};
}

store::Result<store::ListOptions> ToStoreListOptions(
    const std::string& ns, const nvidia::nvsentinel::v1alpha1::ListOptions& opts,
    const labels::SelectorLimits& selector_limits) {
  if (auto err = CheckNamespaceFilter(ns)) return *err;
  auto rv = ParseResourceVersion(opts.resource_version(), "opts.resource_version");
  if (!rv.ok()) return rv.error();
  store::ListOptions out;
  out.namespace_name = ns;
  out.revision = rv->value_or(0);
  const std::string& match = opts.resource_version_match();
  if (match == "Exact") {
    if (out.revision == 0) {
      return Invalid(
          "opts.resource_version_match: \"Exact\" requires a resource_version other than \"\" "
          "or \"0\"");
    }
    out.exact = true;
  } else if (match == "NotOlderThan") {
    if (!rv->has_value()) {
      return Invalid(
          "opts.resource_version_match: \"NotOlderThan\" requires a resource_version");
    }
  } else if (!match.empty()) {
    return Invalid("opts.resource_version_match: " + Quote(match) +
                   ": must be \"\", \"NotOlderThan\" or \"Exact\"");
  }
  if (opts.timeout_seconds() < 0) {
    return Invalid("opts.timeout_seconds: must not be negative");
  }
  if (auto err = ParseSelector(opts.label_selector(), selector_limits, &out.selector)) return *err;
  return out;
}

store::Result<store::WatchOptions> ToStoreWatchOptions(
    const std::string& ns, const nvidia::nvsentinel::v1alpha1::ListOptions& opts,
    const labels::SelectorLimits& selector_limits) {
  if (auto err = CheckNamespaceFilter(ns)) return *err;
  auto rv = ParseResourceVersion(opts.resource_version(), "opts.resource_version");
  if (!rv.ok()) return rv.error();
  store::WatchOptions out;
  out.namespace_name = ns;
  if (rv->has_value() && **rv != 0) out.start = **rv;
  const std::string& match = opts.resource_version_match();
  if (match == "Exact") {
    return Invalid("opts.resource_version_match: \"Exact\" is not supported for watch");
  } else if (!match.empty() && match != "NotOlderThan") {
    return Invalid("opts.resource_version_match: " + Quote(match) +
                   ": must be \"\", \"NotOlderThan\" or \"Exact\"");
  }
  if (opts.send_initial_events() && out.start.has_value()) {
    return Invalid(
        "opts.send_initial_events: requires resource_version \"\" or \"0\" (the initial "
        "events are the current state)");
  }
  if (opts.timeout_seconds() < 0) {
    return Invalid("opts.timeout_seconds: must not be negative");
  }
  // Clamp absurd timeouts (up to INT64_MAX seconds) to a year so the
  // conversion to milliseconds cannot overflow.
  constexpr std::int64_t kMaxTimeoutSeconds = 365LL * 24 * 3600;
  out.timeout = std::chrono::milliseconds(
      std::min<std::int64_t>(opts.timeout_seconds(), kMaxTimeoutSeconds) * 1000);
  out.send_initial_events = opts.send_initial_events();
  out.allow_bookmarks = opts.allow_watch_bookmarks();
  if (auto err = ParseSelector(opts.label_selector(), selector_limits, &out.selector)) return *err;
  return out;
}

}  // namespace deviceapi::apiserver
