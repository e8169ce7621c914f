// LeaseController: what provider leases do to GPUs (S28-S30).
//
//   - S28: when a lease is not renewed within lease_duration_seconds of the
//     later of its renew_time and the server's start, or is deleted, every
//     owned condition of every GPU turns status Unknown, reason
//     ProviderLeaseExpired, with a message naming the holder, when it was
//     last renewed (or that it was deleted) and what the condition said
//     before (kPreviousStateMarker). These are ordinary writes through the
//     GPU registry (revision, event, transition time); expiry never deletes
//     anything nor touches other conditions, nor a type that another live
//     lease owns by then. It covers the GPU writes admitted before it,
//     also those still committing when it starts. A DeleteLease is made
//     only once its conditions are Unknown (below), so a restart, which
//     rebuilds the table from the stored leases, cannot lose that expiry.
//   - S29: while every lease that owns a condition type is expired, a GPU
//     write that turns that condition True is refused FAILED_PRECONDITION
//     "lease X expired" (gpu_admission()); so it is while the lease is being
//     deleted ("lease X is being deleted").
//   - DeleteLease (lease_admission().BeforeDelete): the timer thread first
//     waits for the GPU writes admitted before, then sets the owned
//     conditions Unknown as an expiry would, and only then lets the delete
//     go ahead. When that fails (a storage fault, S26; GPU writes still
//     committing after the store's wait for them), the delete is refused
//     UNAVAILABLE, saying which, and the lease stays as it was (GPUs already
//     written stay Unknown; the lease is live, so its holder may set them).
//     A delete whose preconditions do not match the stored lease is refused
//     before it comes here (ResourceRegistry::Delete), changing nothing
//     (S5); one whose lease changed after that check is refused by the
//     delete itself, with the same outcome as a storage fault.
//   - S30: no condition type is owned by two live leases; a create or update
//     that would make it so is INVALID_ARGUMENT naming the other lease
//     (lease_admission()).
//
// One thread and one timer for all leases: it sleeps until the earliest
// deadline of a lease not yet handled, or until a lease write brings a
// deadline before that; with no leases it sleeps until one is written.
// Renewals only move deadlines later, so they never wake it. The table of leases
// is kept by lease_admission(), which sees every lease write under the lease
// store's write lock (admission.h), so it is exact without reading the store
// from inside a write. Start() loads it from the lease registry.
//
// Thread-safe. Both registries must outlive the controller; Stop() (or the
// destructor) joins the thread before they go.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "apiserver/admission.h"
#include "apiserver/resource_registry.h"
#include "device_api.pb.h"

namespace deviceapi::apiserver {

inline constexpr const char* kLeaseExpiredReason = "ProviderLeaseExpired";
// Expiry's message ends with the condition as it was: "<message>; before: STATUS REASON
// since TIME: MESSAGE" (REASON "-" when empty; "since TIME" only when the time was set).
inline constexpr const char* kPreviousStateMarker = "; before: ";

class LeaseController {
 public:
  using Gpu = nvidia::nvsentinel::v1alpha1::Gpu;
  using Lease = nvidia::nvsentinel::v1alpha1::Lease;
  // Deadlines are measured on the steady clock, so that a step of the wall
  // clock (NTP, an RTC fix-up) neither keeps a stopped provider's conditions
  // True for the length of the step nor expires a live lease early. The wall
  // clock only dates what is stored or shown: renew_time, the server's start.
  using Clock = std::chrono::steady_clock;
  using WallClock = std::chrono::system_clock;
  using WallNow = std::function<WallClock::time_point()>;

  struct Stats {
    std::size_t live = 0;     // leases within their duration
    std::size_t expired = 0;  // leases past it
    std::uint64_t conditions_set_unknown = 0;  // condition writes made by expiry
  };

  // `server_start`: expiry is measured from no earlier than this (S28), so a
  // restart does not expire every lease at once. `wall_now`: the wall clock
  // (unset: the system's); a lease renewed T ago by it (never less than 0)
  // has its deadline at the steady clock's now - T + its duration.
  LeaseController(const ResourceRegistry<Gpu>& gpus, const ResourceRegistry<Lease>& leases,
                  WallClock::time_point server_start = WallClock::now(), WallNow wall_now = {});
  ~LeaseController();
  LeaseController(const LeaseController&) = delete;
  LeaseController& operator=(const LeaseController&) = delete;

  // Loads the stored leases and starts the timer thread.
  store::Result<bool> Start();
  // Stops the timer thread; idempotent.
  void Stop();

  const Admission<Lease>& lease_admission() const { return lease_admission_; }
  const Admission<Gpu>& gpu_admission() const { return gpu_admission_; }
  Stats GetStats() const;

 private:
  struct Entry {
    std::string key;  // namespace/name
    // Its key in table_: `key`, but a deleted lease waiting for its expiry
    // has one of its own, so that a lease created again under its name
    // neither replaces it nor drops that expiry.
    std::string slot;
    std::string uid;  // the stored lease's: a delete not made brings back this one
    std::string holder;
    std::vector<std::string> condition_types;
    WallClock::time_point renewed;  // renew_time, at the latest when seen (unset: the write's time)
    // renew_time as stored (seconds, nanos; unset: none): `renewed` depends
    // on when the lease was seen, so only this tells whether it changed.
    std::optional<std::pair<std::int64_t, std::int32_t>> renew_time;
    std::chrono::seconds duration{0};
    Clock::time_point deadline;  // max(renewed, server start) + duration, on the steady clock
    std::uint64_t version = 0;   // changes with every write of the lease
    bool handled = false;        // its expiry was applied (or is being applied)
    bool deleted = false;        // the lease is gone: expire now, then forget it
    Clock::time_point retry_at;  // after a failed expiry: not before then
    // A deleted lease's entry as it was before the delete, restored when the
    // delete is not made after all (a failed commit, S26).
    std::shared_ptr<const Entry> before_delete;
    // Nonzero while a DeleteLease sets its conditions Unknown (the release's
    // id): S29 refuses True for its types meanwhile.
    std::uint64_t releasing = 0;
  };
  // A DeleteLease waiting for the timer thread to set its conditions Unknown.
  struct Release {
    std::string key;
    Admission<Lease>::Proceed proceed;
    std::function<void(store::Error)> refuse;
  };

  class LeaseAdmission final : public Admission<Lease> {
   public:
    explicit LeaseAdmission(LeaseController& c) : c_(c) {}
    std::optional<store::Error> Admit(const Lease& updated, const Lease* old, store::Revision) const override;
    void Deleted(const Lease& old) const override;
    void BeforeDelete(const store::ObjectKey& key, Proceed proceed,
                      std::function<void(store::Error)> refuse) const override;

   private:
    LeaseController& c_;
  };
  class GpuAdmission final : public Admission<Gpu> {
   public:
    explicit GpuAdmission(LeaseController& c) : c_(c) {}
    std::optional<store::Error> Admit(const Gpu& updated, const Gpu* old, store::Revision revision) const override;

   private:
    LeaseController& c_;
  };

  Entry MakeEntry(const Lease& lease) const;
  // Rebuilds the table from the leases the next write builds on, after a
  // lease write that admission saw was not made (Store::SetWriteAbortedHook).
  void Reload(const std::vector<store::ObjectPtr>& write_base);
  // Upserts `lease` into the table, or refuses it (S30). Requires mu_.
  std::optional<store::Error> UpsertLocked(const Lease& lease);
  void Run();
  // Sets the conditions of the lease being deleted Unknown, then lets the
  // delete go ahead, or refuses it when they could not all be written.
  void RunRelease(Release release);
  // Ends the release `id` of the lease `key` (S29 no longer refuses for it).
  void EndRelease(const std::string& key, std::uint64_t id);
  // Applies one lease's expiry to every GPU (S28). False when a GPU write
  // failed (a storage fault): the timer tries again after
  // kExpiryRetryInterval. Expiry writes are exempt from the store's byte
  // bound (S33), so clients that filled the store cannot keep them out.
  // `admitted`: the revision of the last GPU write admitted when the expiry
  // was decided; expiry waits until the GPU store has reached it. `why`
  // (when set) says what failed.
  bool Expire(const Entry& entry, store::Revision admitted, std::string* why = nullptr);
  // Waits until the GPU store has made every write up to `revision`
  // visible. The wait is exempt from the store's limit on waiting reads, so
  // clients that take every place cannot postpone expiry. False when it has
  // not (a commit outlasted the store's bound on the wait) or the controller
  // stops meanwhile, with `why` set: the expiry is then tried again, waiting
  // for the writes admitted by then.
  bool WaitForGpuWrites(store::Revision revision, std::string* why);
  // The entry's condition types that no other live lease owns now.
  std::vector<std::string> TypesToExpire(const Entry& entry) const;
  static constexpr std::chrono::seconds kExpiryRetryInterval{1};
  // True while the entry in `slot` is still the version `version`, expired
  // or being released.
  bool StillExpired(const std::string& slot, std::uint64_t version) const;

  const ResourceRegistry<Gpu>& gpus_;
  const ResourceRegistry<Lease>& leases_;
  const WallNow wall_now_;
  const Clock::time_point server_start_;
  LeaseAdmission lease_admission_{*this};
  GpuAdmission gpu_admission_{*this};

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Entry> table_;  // by key
  std::uint64_t next_version_ = 1;
  bool stopping_ = false;
  // When the timer thread wakes next (max: only when notified).
  Clock::time_point scheduled_ = Clock::time_point::max();
  std::uint64_t conditions_set_unknown_ = 0;
  // The revision of the last GPU write admitted (gpu_admission()) and not
  // since aborted (the GPU store's write-aborted hook).
  store::Revision last_gpu_admitted_ = 0;
  std::deque<Release> releases_;  // for the timer thread, in order
  std::uint64_t next_release_ = 1;
  std::thread thread_;
};

}  // namespace deviceapi::apiserver
