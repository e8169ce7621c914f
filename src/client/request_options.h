// What the typed clients (Client, LeaseClient) put into every request the
// same way: the namespace default and a delete's preconditions.
#pragma once

#include <string>

#include "deviceapi/client.h"

namespace deviceapi::client_internal {

inline std::string NamespaceOrDefault(const std::string& ns) {
  return ns.empty() ? std::string(kDefaultNamespace) : ns;
}

// Sets `out`'s preconditions when the options name any (S4: a delete that
// applies only to that uid / resource version).
inline void SetPreconditions(const DeleteOptions& options, v1alpha1::DeleteOptions* out) {
  if (options.precondition_uid.empty() && options.precondition_resource_version.empty()) return;
  auto* p = out->mutable_preconditions();
  p->set_uid(options.precondition_uid);
  p->set_resource_version(options.precondition_resource_version);
}

}  // namespace deviceapi::client_internal
