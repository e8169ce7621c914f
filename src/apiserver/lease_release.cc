// DeleteLease through the LeaseController: the lease's conditions turn
// Unknown before the delete is made (lease_controller.h), so that no restart
// can find the lease gone and its conditions still True.
#include <spdlog/spdlog.h>

#include "apiserver/lease_controller.h"

namespace deviceapi::apiserver {

void LeaseController::LeaseAdmission::BeforeDelete(const store::ObjectKey& key, Proceed proceed,
                                                   std::function<void(store::Error)> refuse) const {
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(c_.mu_);
    stopping = c_.stopping_;
    // A lease the table does not know owns nothing: the store answers
    // (NOT_FOUND, a precondition) at once.
    if (!stopping && c_.table_.count(key.namespace_name + "/" + key.name) != 0) {
      c_.releases_.push_back({key.namespace_name + "/" + key.name, std::move(proceed), std::move(refuse)});
      proceed = nullptr;
    }
  }
  // Callbacks answer the call: never under the controller's lock.
  if (stopping) return refuse(store::MakeError(store::ErrorCode::kUnavailable, "server shutting down"));
  if (proceed) return proceed(nullptr);
  c_.changed_.notify_all();
}

void LeaseController::RunRelease(Release release) {
  std::uint64_t id = 0;
  store::Revision admitted = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = table_.find(release.key);
    if (it == table_.end()) {  // deleted meanwhile: its own expiry follows
      id = 0;
    } else {
      id = next_release_++;
      it->second.releasing = id;  // S29 refuses True from now on
      admitted = last_gpu_admitted_;
    }
  }
  if (id == 0) return release.proceed(nullptr);
  // The writes are an expiry's, for the lease as it is; a renewal meanwhile
  // (a new version) is written again, a few times at most.
  bool written = false;
  std::string why = "the lease changed while they were written";
  for (int pass = 0; pass < 3 && !written; ++pass) {
    Entry entry;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = table_.find(release.key);
      if (it == table_.end() || it->second.releasing != id) break;
      entry = it->second;
      if (pass > 0) admitted = last_gpu_admitted_;
    }
    entry.deleted = true;  // the message says "was deleted"
    if (!Expire(entry, admitted, &why)) break;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = table_.find(release.key);
    written = it != table_.end() && it->second.version == entry.version;
  }
  if (!written) {
    EndRelease(release.key, id);
    spdlog::error("DeleteLease {}: its conditions could not all be set Unknown ({}); the lease is kept",
                  release.key, why);
    return release.refuse(store::MakeError(store::ErrorCode::kUnavailable,
                                           "the conditions of lease " + release.key + " could not be set Unknown: " +
                                               why + "; nothing was deleted"));
  }
  // A delete that is not made (a precondition, a failed commit) leaves the
  // lease live again.
  release.proceed([this, key = release.key, id](bool made) {
    if (!made) EndRelease(key, id);
  });
}

void LeaseController::EndRelease(const std::string& key, std::uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = table_.find(key);
  if (it != table_.end() && it->second.releasing == id) it->second.releasing = 0;
}

}  // namespace deviceapi::apiserver
