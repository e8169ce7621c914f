// Admission<Msg>: checks a write against state outside the object written
// (Kubernetes' admission plugins), e.g. provider leases (S29, S30).
//
// The registry calls Admit under the store's write lock, after the strategy
// built and validated the new state and only when the write changes
// something; an error aborts the write, which then takes no revision. Since
// writes of one store are serialized by that lock, an admission may keep
// state that each admitted write updates. Implementations must be
// thread-safe and must not block.
#pragma once

#include <functional>
#include <optional>

#include "store/object.h"
#include "store/result.h"

namespace deviceapi::apiserver {

template <typename Msg>
class Admission {
 public:
  virtual ~Admission() = default;
  // `old` is null on create; `revision` is the one the write takes if it is
  // made.
  virtual std::optional<store::Error> Admit(const Msg& updated, const Msg* old, store::Revision revision) const = 0;
  // A delete of `old` is about to commit.
  virtual void Deleted(const Msg& old) const {}

  // Makes the delete and calls `after(made)` before the client is answered.
  using Proceed = std::function<void(std::function<void(bool made)> after)>;
  // Runs before every delete of `key` is built, and may block, so not under
  // any store lock: calls `proceed` (at once, or later on a thread of its
  // own) to let the delete go ahead, or `refuse` to answer the client
  // instead, with nothing deleted. Exactly one of them is called.
  virtual void BeforeDelete(const store::ObjectKey& key, Proceed proceed,
                            std::function<void(store::Error)> refuse) const {
    proceed(nullptr);
  }
};

}  // namespace deviceapi::apiserver
