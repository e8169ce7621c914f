#include "apiserver/lease_controller.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <set>

namespace deviceapi::apiserver {
namespace {

using google::protobuf::util::TimeUtil;

using Clock = LeaseController::Clock;
using WallClock = LeaseController::WallClock;

// When a lease was last renewed, as expiry counts it (S28): its renew_time,
// but never later than `seen`, when the server admitted or loaded it, and
// never before the epoch. A renew_time in the future would keep the lease
// alive after its holder stopped, and validation allows years up to 9999,
// far beyond what the clock's nanoseconds hold (2262).
WallClock::time_point RenewedAt(const google::protobuf::Timestamp& ts, WallClock::time_point seen) {
  const auto seen_seconds = std::chrono::duration_cast<std::chrono::seconds>(seen.time_since_epoch()).count();
  if (ts.seconds() < 0) return WallClock::time_point{};
  if (ts.seconds() > seen_seconds) return seen;
  const auto at = WallClock::time_point(std::chrono::duration_cast<WallClock::duration>(
      std::chrono::seconds(ts.seconds()) + std::chrono::nanoseconds(ts.nanos())));
  return std::min(at, seen);
}

std::string Key(const nvidia::nvsentinel::v1alpha1::ObjectMeta& meta) {
  return meta.namespace_() + "/" + meta.name();
}

std::string FormatTime(WallClock::time_point t) {
  const auto since = t.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  return TimeUtil::ToString(TimeUtil::SecondsToTimestamp(seconds.count()));
}

// The condition as it was before expiry, appended to the expiry message: what the stopped
// provider last said stays readable (an operator's first question), and a provider that
// restarts after its lease expired finds the fault it had reported (NVML never replays
// events). Long messages keep their end, where providers put what matters most.
std::string PreviousState(const nvidia::nvsentinel::v1alpha1::Condition& c) {
  constexpr std::size_t kMaxPreviousMessage = 1024;
  std::string message = c.message();
  if (message.size() > kMaxPreviousMessage) {
    std::size_t cut = message.size() - kMaxPreviousMessage;
    while (cut < message.size() && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) ++cut;
    message = "..." + message.substr(cut);
  }
  std::string out = std::string(kPreviousStateMarker) + c.status() + " " +
                    (c.reason().empty() ? "-" : c.reason());
  if (c.has_last_transition_time()) out += " since " + TimeUtil::ToString(c.last_transition_time());
  return out + ": " + message;
}

}  // namespace

LeaseController::LeaseController(const ResourceRegistry<Gpu>& gpus,
                                 const ResourceRegistry<Lease>& leases,
                                 WallClock::time_point server_start, WallNow wall_now)
    : gpus_(gpus),
      leases_(leases),
      wall_now_(wall_now ? std::move(wall_now) : [] { return WallClock::now(); }),
      // The start as the steady clock had it: how long ago by the wall clock.
      server_start_(Clock::now() - std::max(wall_now_() - server_start, WallClock::duration::zero())) {}

LeaseController::~LeaseController() { Stop(); }

LeaseController::Entry LeaseController::MakeEntry(const Lease& lease) const {
  Entry e;
  e.key = Key(lease.metadata());
  e.slot = e.key;
  e.uid = lease.metadata().uid();
  e.holder = lease.spec().holder_identity();
  e.condition_types.assign(lease.spec().condition_types().begin(),
                           lease.spec().condition_types().end());
  const auto wall_now = wall_now_();
  e.renewed = lease.spec().has_renew_time() ? RenewedAt(lease.spec().renew_time(), wall_now) : wall_now;
  if (lease.spec().has_renew_time()) {
    e.renew_time.emplace(lease.spec().renew_time().seconds(), lease.spec().renew_time().nanos());
  }
  e.duration = std::chrono::seconds(lease.spec().lease_duration_seconds());
  // Only the renewal's age comes from the wall clock (RenewedAt keeps it
  // >= 0, so at most one duration is left); from here the steady clock
  // counts. A renewal stored before a restart thus counts what the wall
  // clock says has passed since, but no step after it moves the deadline.
  const auto renewed_steady = Clock::now() - std::chrono::duration_cast<Clock::duration>(wall_now - e.renewed);
  e.deadline = std::max(renewed_steady, server_start_) + e.duration;
  return e;
}

store::Result<bool> LeaseController::Start() {
  auto list = leases_.List("", {});
  if (!list.ok()) return list.error();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& item : list->items) {
      Entry e = MakeEntry(*item->Parse());
      e.version = next_version_++;
      table_[e.key] = std::move(e);
    }
    stopping_ = false;
  }
  // A lease write admitted into the table and then not made (its commit
  // failed, or the store refused it after admission) must leave the table.
  leases_.store().SetWriteAbortedHook(
      [this](const std::vector<store::ObjectPtr>& write_base, store::Revision) { Reload(write_base); });
  // A GPU write admitted and then not made leaves its revision to a later
  // write, and there may be none: expiry must not wait for it.
  gpus_.store().SetWriteAbortedHook([this](const std::vector<store::ObjectPtr>&, store::Revision base) {
    std::lock_guard<std::mutex> lock(mu_);
    last_gpu_admitted_ = std::min(last_gpu_admitted_, base);
  });
  thread_ = std::thread([this] { Run(); });
  return true;
}

void LeaseController::Reload(const std::vector<store::ObjectPtr>& write_base) {
  std::map<std::string, Entry> table;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, const Entry*> deleted_by_uid;
    for (const auto& [slot, e] : table_) {
      if (e.deleted && e.before_delete) deleted_by_uid.emplace(e.uid, &e);
    }
    std::set<std::string> uids;
    for (const auto& object : write_base) {
      auto lease = ProtoObject<Lease>::From(object);
      if (!lease) continue;
      Entry e = MakeEntry(*lease->Parse());
      uids.insert(e.uid);
      // A delete that was not made: the lease is back exactly as it was,
      // still expired (S29) or live, its expiry applied or not.
      if (auto d = deleted_by_uid.find(e.uid); d != deleted_by_uid.end()) {
        table.emplace(e.key, *d->second->before_delete);
        continue;
      }
      auto old = table_.find(e.key);
      // An unchanged lease keeps its version, its deadline and whether its
      // expiry was applied; the timer thread matches on the version. Only
      // what is stored is compared: `renewed` and the deadline depend on
      // when the lease is read (a renew_time in the future counts as now,
      // the wall clock may have stepped back), so an expired lease read
      // again would get a new deadline and S29 would accept True again.
      if (old != table_.end() && old->second.uid == e.uid && old->second.holder == e.holder &&
          old->second.renew_time == e.renew_time && old->second.duration == e.duration &&
          old->second.condition_types == e.condition_types) {
        table.emplace(e.key, std::move(old->second));
      } else {
        e.version = next_version_++;
        table.emplace(e.key, std::move(e));
      }
    }
    // A lease whose delete was made, with its expiry still to come, is in no
    // write base; it must not be forgotten before its conditions are Unknown.
    for (auto& [slot, e] : table_) {
      if (e.deleted && uids.count(e.uid) == 0) table.emplace(slot, std::move(e));
    }
    table.swap(table_);
  }
  changed_.notify_all();
  spdlog::info("lease table reloaded after a lease write was not made: {} leases", write_base.size());
}

void LeaseController::Stop() {
  leases_.store().SetWriteAbortedHook(nullptr);
  gpus_.store().SetWriteAbortedHook(nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Deletes still waiting are refused, not left without an answer.
  std::deque<Release> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(releases_);
  }
  for (auto& r : left) r.refuse(store::MakeError(store::ErrorCode::kUnavailable, "server shutting down"));
}

std::optional<store::Error> LeaseController::UpsertLocked(const Lease& lease) {
  Entry e = MakeEntry(lease);
  const auto now = Clock::now();
  // S30: no condition type owned by two live leases.
  for (const auto& [key, other] : table_) {
    if (key == e.key || other.deadline <= now) continue;
    for (const auto& type : e.condition_types) {
      if (std::find(other.condition_types.begin(), other.condition_types.end(), type) !=
          other.condition_types.end()) {
        return store::MakeError(store::ErrorCode::kInvalid,
                                "lease.spec.condition_types: condition type \"" + type +
                                    "\" is owned by live lease " + key + " (holder \"" +
                                    other.holder + "\")");
      }
    }
  }
  e.version = next_version_++;
  // A renewal while a delete sets the conditions Unknown keeps S29's
  // refusal; the delete writes again for the renewed lease.
  if (auto old = table_.find(e.key); old != table_.end()) e.releasing = old->second.releasing;
  table_[e.key] = std::move(e);
  return std::nullopt;
}

std::optional<store::Error> LeaseController::LeaseAdmission::Admit(const Lease& updated, const Lease*,
                                                                   store::Revision) const {
  bool earlier = false;
  {
    std::lock_guard<std::mutex> lock(c_.mu_);
    if (auto refused = c_.UpsertLocked(updated)) return refused;
    earlier = c_.table_.at(Key(updated.metadata())).deadline < c_.scheduled_;
  }
  // A renewal only moves a deadline later: the timer, asleep until the
  // earliest one, need not wake. 100 leases renewed every 10 s cost no
  // wake-ups beyond the timer's own.
  if (earlier) c_.changed_.notify_all();
  return std::nullopt;
}

void LeaseController::LeaseAdmission::Deleted(const Lease& old) const {
  {
    std::lock_guard<std::mutex> lock(c_.mu_);
    auto it = c_.table_.find(Key(old.metadata()));
    if (it == c_.table_.end()) return;
    // Its holder gave the conditions up: they turn Unknown now, as at an
    // expiry, rather than stay True with nobody to renew them (S28). The
    // entry owns nothing from now on (its deadline has passed, so S30 lets
    // another lease take the types) and goes once the expiry is made.
    // It moves to a slot of its own: a lease created again under the name
    // before this expiry is made must not replace it.
    Entry e = it->second;
    e.releasing = 0;
    Entry before = std::move(it->second);
    before.releasing = 0;  // a delete not made leaves no release behind
    e.before_delete = std::make_shared<const Entry>(std::move(before));
    c_.table_.erase(it);
    e.deleted = true;
    e.version = c_.next_version_++;
    e.slot = e.key + "\n" + std::to_string(e.version);  // "\n" is in no lease name
    e.deadline = std::min(e.deadline, Clock::now());
    e.handled = false;
    e.retry_at = {};
    c_.table_.emplace(e.slot, std::move(e));
  }
  c_.changed_.notify_all();
}

std::optional<store::Error> LeaseController::GpuAdmission::Admit(const Gpu& updated, const Gpu* old,
                                                                 store::Revision revision) const {
  const auto& conditions = updated.status().conditions();
  // Nearly every write: nothing turns True that was not True already.
  auto turns_true = [old](const nvidia::nvsentinel::v1alpha1::Condition& c) {
    if (c.status() != "True") return false;
    if (old == nullptr) return true;
    for (const auto& o : old->status().conditions()) {
      if (o.type() == c.type()) return o.status() != "True";
    }
    return true;
  };
  std::lock_guard<std::mutex> lock(c_.mu_);
  // Writes of one store are admitted in revision order. Only an accepted
  // write counts: a refused one takes no revision, and expiry would wait
  // for one that may never be issued.
  auto accept = [&]() -> std::optional<store::Error> {
    c_.last_gpu_admitted_ = revision;
    return std::nullopt;
  };
  if (c_.table_.empty()) return accept();
  const auto now = Clock::now();
  for (const auto& c : conditions) {
    if (!turns_true(c)) continue;
    const Entry* expired = nullptr;
    bool live_owner = false;
    for (const auto& [key, e] : c_.table_) {
      if (std::find(e.condition_types.begin(), e.condition_types.end(), c.type()) ==
          e.condition_types.end()) {
        continue;
      }
      if (e.deadline <= now || e.releasing != 0) {
        expired = &e;
      } else {
        live_owner = true;
      }
    }
    if (expired != nullptr && !live_owner) {
      return store::MakeError(store::ErrorCode::kFailedPrecondition,
                              "lease " + expired->key + (expired->releasing != 0 ? " is being deleted" : " expired") +
                                  ": condition \"" + c.type() + "\" cannot be set True until its holder renews it");
    }
  }
  return accept();
}

bool LeaseController::StillExpired(const std::string& slot, std::uint64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = table_.find(slot);
  return it != table_.end() && it->second.version == version &&
         (it->second.deadline <= Clock::now() || it->second.releasing != 0);
}

void LeaseController::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (!releases_.empty()) {
      Release release = std::move(releases_.front());
      releases_.pop_front();
      lock.unlock();
      RunRelease(std::move(release));
      lock.lock();
      continue;
    }
    const auto now = Clock::now();
    std::vector<Entry> due;
    // Every GPU write admitted so far; a write that turns an owned type
    // True is refused from now on (the deadline has passed), so these are
    // the last that may carry one for the leases due.
    const store::Revision admitted = last_gpu_admitted_;
    std::optional<Clock::time_point> next;
    for (auto& [key, e] : table_) {
      if (e.handled) continue;
      const auto at = std::max(e.deadline, e.retry_at);
      if (at <= now) {
        e.handled = true;
        due.push_back(e);
      } else if (!next || at < *next) {
        next = at;
      }
    }
    if (!due.empty()) {
      lock.unlock();  // the GPU writes take the GPU store's lock, then mu_
      std::vector<const Entry*> failed, forget;
      for (const auto& e : due) {
        if (!Expire(e, admitted)) failed.push_back(&e);
        else if (e.deleted) forget.push_back(&e);
      }
      lock.lock();
      for (const Entry* e : forget) {
        auto it = table_.find(e->slot);
        if (it != table_.end() && it->second.version == e->version) table_.erase(it);
      }
      // A write that failed (a storage fault, S26) is tried again: the
      // conditions must not stay True because the disk was full once.
      for (const Entry* e : failed) {
        auto it = table_.find(e->slot);
        if (it == table_.end() || it->second.version != e->version) continue;
        it->second.handled = false;
        it->second.retry_at = Clock::now() + kExpiryRetryInterval;
      }
      continue;
    }
    scheduled_ = next.value_or(Clock::time_point::max());
    if (next) {
      changed_.wait_until(lock, *next);
    } else {
      changed_.wait(lock);
    }
  }
}

bool LeaseController::WaitForGpuWrites(store::Revision revision, std::string* why) {
  auto answer = std::make_shared<std::promise<store::Result<bool>>>();
  auto done = answer->get_future();
  // Answered once the store has reached `revision`; or with an error after
  // the store's bound on such waits (a commit slower than that), which
  // leaves a write admitted before possibly still committing, so the expiry
  // is not made yet. Exempt from the limit on waiting reads: clients' reads
  // must not keep expiry from being made.
  gpus_.store().WaitForRevision(
      revision, [answer](store::Result<bool> r) { answer->set_value(std::move(r)); },
      store::Store::WaiterLimit::kExempt);
  while (done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      if (why) *why = "server shutting down";
      return false;
    }
  }
  auto reached = done.get();
  if (!reached.ok()) {
    spdlog::warn("lease expiry: GPU writes up to revision {} are not all made yet (tried again in {} s): {}",
                 revision, kExpiryRetryInterval.count(), reached.error().message);
    if (why) {
      *why = reached.error().code == store::ErrorCode::kTooLargeRevision
                 ? "GPU writes in flight did not finish within the wait for them (" +
                       std::to_string(gpus_.store().options().future_revision_wait.count()) + " ms)"
                 : reached.error().message;
    }
  }
  return reached.ok();
}

std::vector<std::string> LeaseController::TypesToExpire(const Entry& entry) const {
  std::vector<std::string> types;
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& type : entry.condition_types) {
    bool owned_elsewhere = false;
    for (const auto& [key, other] : table_) {
      if (key == entry.slot || other.deleted || other.deadline <= now) continue;
      if (std::find(other.condition_types.begin(), other.condition_types.end(), type) != other.condition_types.end()) {
        owned_elsewhere = true;
        break;
      }
    }
    if (!owned_elsewhere) types.push_back(type);
  }
  return types;
}

bool LeaseController::Expire(const Entry& entry, store::Revision admitted, std::string* why) {
  const std::string message = "lease " + entry.key + " held by \"" + entry.holder + "\" " +
                              (entry.deleted ? "was deleted" : "expired") + "; last renewed " +
                              FormatTime(entry.renewed);
  spdlog::warn("{}: setting {} condition type(s) Unknown on every GPU", message,
               entry.condition_types.size());
  // A GPU write admitted while the lease was live may still be committing
  // (a durable store makes a write visible only once it is on disk): the
  // list must include it, or its True would outlive the lease.
  if (!WaitForGpuWrites(admitted, why)) return false;
  auto list = gpus_.List("", {});
  if (!list.ok()) {
    spdlog::error("lease expiry: listing GPUs failed: {}", list.error().message);
    if (why) *why = "listing GPUs failed: " + list.error().message;
    return false;
  }
  bool all_written = true;
  for (const auto& gpu : list->items) {
    const store::ObjectKey& key = gpu->key();
    std::uint64_t changed_here = 0;
    auto result = gpus_.Mutate(
        key.namespace_name, key.name, Subresource::kStatus,
        [&](const Gpu&, Gpu* updated) -> store::Result<bool> {
          changed_here = 0;
          // A renewal since the deadline was seen wins: nothing to do.
          if (!StillExpired(entry.slot, entry.version)) return false;
          const std::vector<std::string> types = TypesToExpire(entry);
          for (auto& c : *updated->mutable_status()->mutable_conditions()) {
            if (std::find(types.begin(), types.end(), c.type()) == types.end()) continue;
            if (c.status() == "Unknown" && c.reason() == kLeaseExpiredReason) continue;
            c.set_message(message + PreviousState(c));
            c.set_status("Unknown");
            c.set_reason(kLeaseExpiredReason);
            c.clear_last_transition_time();  // S6: the server stamps the transition
            ++changed_here;
          }
          return changed_here > 0;
        },
        store::Store::ByteBound::kExempt);
    if (!result.ok() && result.error().code != store::ErrorCode::kNotFound) {
      spdlog::error("lease expiry: writing GPU {}/{} failed (tried again in {} s): {}", key.namespace_name,
                    key.name, kExpiryRetryInterval.count(), result.error().message);
      if (why && all_written) *why = "storage unavailable: writing GPU " + key.name + " failed: " + result.error().message;
      all_written = false;
      continue;
    }
    if (result.ok() && changed_here > 0) {
      // Counted GPU by GPU, so that an expiry across many GPUs shows its progress.
      std::lock_guard<std::mutex> lock(mu_);
      conditions_set_unknown_ += changed_here;
    }
  }
  return all_written;
}

LeaseController::Stats LeaseController::GetStats() const {
  Stats s;
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, e] : table_) {
    if (e.deleted) continue;  // gone; its expiry is on its way
    if (e.deadline <= now) {
      ++s.expired;
    } else {
      ++s.live;
    }
  }
  s.conditions_set_unknown = conditions_set_unknown_;
  return s;
}

}  // namespace deviceapi::apiserver
