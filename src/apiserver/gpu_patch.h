// PatchGpu's documents (S31): a JSON merge patch (RFC 7386) or a strategic
// merge patch of a Gpu, in the proto's JSON field names (lowerCamelCase).
//
// Strategic merge is a merge patch except for `status.conditions`, which
// merge by `type`: an element updates the condition of its type field by
// field (a field set to null is cleared) or is appended; an element
// `{"type": X, "$patch": "delete"}` removes condition X. Other `$patch`
// directives, or `$` keys elsewhere, are INVALID_ARGUMENT;
// `$setElementOrder/conditions` (sent by kubectl) is accepted and ignored.
// A condition whose status a patch changes without giving
// lastTransitionTime gets the server's clock (S6), as in UpdateGpuStatus.
//
// `metadata.resourceVersion` inside a patch is a precondition (ABORTED on
// mismatch; INVALID_ARGUMENT when it is no decimal resource version) and
// is not itself applied.
//
// ParsePatch needs no stored object: it bounds the document (size,
// nesting, array lengths, values in all, labels and annotations it sets)
// and rejects what is malformed, including a key that names no field of a
// Gpu, even one set to null, and a document that names a part outside its
// subresource, even with the values the object has (S31). ApplyPatch
// applies it to one version of the object.
// Pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "apiserver/resource_strategy.h"
#include "apiserver/validation.h"
#include "device_api.pb.h"
#include "store/object.h"
#include "store/result.h"

namespace deviceapi::apiserver {

inline constexpr const char* kMergePatchType = "application/merge-patch+json";
inline constexpr const char* kStrategicMergePatchType = "application/strategic-merge-patch+json";
// Bounds of a patch document; a request is already at most the gRPC
// message limit (S19).
inline constexpr int kMaxPatchDepth = 32;
inline constexpr std::size_t kMaxPatchArrayItems = 1024;
// Members of objects plus items of arrays, in the whole document: far above
// what the largest object takes (32 conditions, 64 labels and annotations,
// under a thousand), and what keeps a 4 MiB request from parsing into a tree
// of millions of nodes. More is RESOURCE_EXHAUSTED, before any parsing.
inline constexpr std::size_t kMaxPatchValues = 32768;

struct GpuPatch {
  bool strategic = false;
  Subresource part = Subresource::kMain;
  nlohmann::json document;                         // without metadata.resourceVersion
  std::optional<store::Revision> resource_version;  // the precondition, when given
};

// `max_map_entries`: the most labels, and annotations, an object may have
// (ServiceLimits::max_labels); a patch that sets more is refused here.
store::Result<GpuPatch> ParsePatch(const std::string& patch_type, const std::string& data,
                                   const std::string& subresource,
                                   std::size_t max_map_entries = ServiceLimits{}.max_labels);

// Whether ApplyPatch applies `patch` to the message directly (a strategic
// merge of conditions' string fields, what providers send), in about the
// time of a status update; any other patch converts the object to JSON and
// back, so it is applied outside the store's lock first (PatchGpu).
bool AppliesInPlace(const GpuPatch& patch);

// Fills `updated` (a copy of `old` on entry) with `patch` applied to `old`.
// Returns false when the patch leaves the object as it is, so the write is a
// no-op (S1). Checks of what may change are the strategy's
// (ResourceStrategy::PrepareForMutation).
store::Result<bool> ApplyPatch(const GpuPatch& patch, const nvidia::nvsentinel::v1alpha1::Gpu& old,
                               nvidia::nvsentinel::v1alpha1::Gpu* updated);

}  // namespace deviceapi::apiserver
