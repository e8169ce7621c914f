// The sync thread: registers every GPU, pushes changed ones at once, runs a
// full reconcile (and prunes stale objects) every --reconcile-interval and
// after every reconnect, and backs off with jitter while the server is down.
// Also what /readyz reports about it.
#include <spdlog/spdlog.h>

#include <map>
#include <random>
#include <set>

#include "nvml/provider.h"

namespace deviceapi::nvml {

namespace {
// UNAVAILABLE or DEADLINE_EXCEEDED: the server cannot be reached, so every other call would
// fail the same way. Any other error is the server refusing that one request.
bool ServerDown(const Status& s) { return s.IsUnavailable() || s.IsDeadlineExceeded(); }

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

void Provider::NoteServer(const Status& s) {
  bool up = !ServerDown(s);
  if (up && !connected_) spdlog::info("server reachable target={}", server_target_);
  if (!up && connected_) spdlog::warn("server unavailable target={}: {}", server_target_, s.ToString());
  if (!up && connected_.exchange(false)) {
    std::lock_guard<std::mutex> lk(mu_);
    need_full_sync_ = true;  // whatever happened meanwhile, start from a full reconcile
  }
  if (up) connected_ = true;
  metrics_.connected.Get().Set(up ? 1 : 0);
}

bool Provider::Stopping() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stop_;
}

bool Provider::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lk(mu_);
  return !cv_.wait_for(lk, d, [this] { return stop_; });
}

std::string Provider::ReadinessProblem() const {
  if (!synced_once_) return "not yet synced with the device API server";
  std::lock_guard<std::mutex> lk(mu_);
  // Named, with the server's answer, so that an operator sees what to fix (--max-objects,
  // validation, ...) rather than a provider that looks stuck.
  size_t refused = 0;
  std::string first;
  for (const Slot& s : slots_) {
    if (s.register_error.empty()) continue;
    if (refused++ == 0)
      first = "index " + std::to_string(s.info.index) + " uuid " + s.info.uuid + ": " + s.register_error;
  }
  if (refused == 0) return "";
  return std::to_string(refused) + " of " + std::to_string(slots_.size()) +
         " GPUs not registered (the server refused them; first " + first + ")";
}

Status Provider::EnsureRegistered(size_t i) {
  GpuInfo info;
  {
    std::lock_guard<std::mutex> lk(mu_);
    info = slots_[i].info;
  }
  auto st = publisher_->Register(info);
  NoteServer(st.status());
  if (!st.ok()) {
    const std::string error = st.status().ToString();
    if (ServerDown(st.status())) {
      spdlog::warn("register gpu={} failed: {}", info.uuid, error);
      return st.status();
    }
    std::lock_guard<std::mutex> lk(mu_);
    Slot& s = slots_[i];
    // Logged when it starts or changes, not at every reconcile that retries it.
    if (s.register_error != error)
      spdlog::error("register gpu={} index={} refused: {}; its health is not published until it is registered",
                    info.uuid, info.index, error);
    s.register_error = error;
    s.registered = false;
    return st.status();
  }
  std::lock_guard<std::mutex> lk(mu_);
  Slot& s = slots_[i];
  if (!s.register_error.empty()) spdlog::info("register gpu={} index={} accepted now", info.uuid, info.index);
  s.register_error.clear();
  if (!s.registered) {
    auto f = CarriedOverFault(*st, boot_time_);
    if (f && s.probed_clean && f->message.find(kCannotIdentifyMarker) != std::string::npos) {
      // A guess of an earlier run that could not tell which GPU was gone: this one is
      // identified and probes clean, so it is not the lost GPU.
      spdlog::info("gpu={} identified and probed clean: dropping an earlier run's guess: {}", info.uuid,
                   f->message);
    } else if (f) {
      spdlog::warn("gpu={} keeps a fault reported before this provider started (no reboot since): {}", info.uuid,
                   f->message);
      s.health.AddFault(std::move(*f), Clock::now());
    }
  }
  s.registered = true;
  MarkDirty(i, Clock::now());
  return Status();
}

bool Provider::Reconcile() {
  if (enumeration_gaps_.transient()) EnumerateAgain();
  auto list = publisher_->ListAll();
  NoteServer(list.status());
  // Reads are refused (UNAVAILABLE) until the server is ready (S21), and our
  // registrations are what make it ready: when the list fails, register
  // everything; a server that is really down fails the Create too.
  std::set<std::string> present, keep;
  if (list.ok())
    for (const auto& item : list->items()) present.insert(item.metadata().name());
  std::vector<size_t> to_register;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      auto name = ObjectName(slots_[i].info.uuid);
      keep.insert(name);
      if (!slots_[i].registered || !present.count(name)) to_register.push_back(i);
    }
  }
  // A GPU the server refuses (limits, validation) must not hold back the others' health or
  // pruning: only a server that is down ends the pass.
  for (size_t i : to_register)
    if (Stopping() || ServerDown(EnsureRegistered(i))) return false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    // Every status is re-checked; an unchanged one costs a read, no write.
    for (size_t i = 0; i < slots_.size(); ++i) MarkDirty(i, Clock::now());
  }
  if (!PushDirty() || Stopping()) return false;
  if (!list.ok()) return true;  // prune on the next round, once reads are served
  if (!enumeration_gaps_.complete()) {
    // NVML could not say which GPUs are gone. Objects without a GPU of ours are marked
    // rather than deleted (a lost GPU has no readable UUID, and its object holds its fault):
    // lost when NVML said GPU_IS_LOST, not watched for any other error; when NVML could not
    // even count them, they are left to the lease.
    if (enumeration_gaps_.count_failed) return true;
    HealthVerdict v;
    if (enumeration_gaps_.unidentified > 0) {  // a GPU answered GPU_IS_LOST
      v.ready = false;
      v.reason = "GPULost";
      v.message = std::string("GPU is lost: ") + kCannotIdentifyMarker + " (" + enumeration_gap_ + ")";
      v.recommended_action = "RESTART_BM";
    } else {  // NVML could not read some GPU, and said nothing of its being lost
      v.ready = false;
      v.unknown = true;
      v.reason = "NotWatched";
      v.message = "NVML lists a GPU it cannot read, which may be this one, so its faults go unseen (" +
                  enumeration_gap_ + ")";
    }
    auto marked = publisher_->MarkUnidentified(*list, keep, v);
    NoteServer(marked.status());
    if (!marked.ok()) spdlog::warn("mark unidentified: {}", marked.status().ToString());
    return marked.ok() || !ServerDown(marked.status());
  }
  auto pruned = publisher_->Prune(*list, keep);
  NoteServer(pruned.status());
  if (!pruned.ok()) spdlog::warn("prune: {}", pruned.status().ToString());
  return pruned.ok() || !ServerDown(pruned.status());
}

bool Provider::PushDirty() {
  std::vector<size_t> todo;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].dirty) todo.push_back(i);
  }
  // Refusals are logged when a GPU's refusal starts or changes, one line per distinct error
  // for all the GPUs of a pass (a lapsed lease refuses every GPU, at every reconcile).
  struct Refused {
    size_t gpus = 0;
    std::string first;
  };
  std::map<std::string, Refused> refused;
  size_t accepted_again = 0;
  const auto log_refusals = [&] {
    for (const auto& [error, r] : refused) {
      if (r.gpus == 1) spdlog::warn("push gpu={} failed: {}", r.first, error);
      else spdlog::warn("push failed for {} GPUs (first gpu={}): {}", r.gpus, r.first, error);
    }
    if (accepted_again > 0) spdlog::info("push accepted again for {} GPUs", accepted_again);
  };
  for (size_t i : todo) {
    if (Stopping()) return false;  // what is left stays dirty; nothing is sent after Stop()
    GpuInfo info;
    HealthVerdict v;
    Clock::time_point since;
    {
      std::lock_guard<std::mutex> lk(mu_);
      Slot& s = slots_[i];
      if (!s.register_error.empty()) {
        s.push_refused = true;  // no object to write: the next full reconcile registers it first
        continue;
      }
      s.dirty = false;
      info = s.info;
      v = s.health.Verdict();
      if (!unseen_.empty()) v = Unwatched(std::move(v), unseen_);
      since = s.dirty_since;
    }
    Status st = publisher_->Push(info, v);
    NoteServer(st);
    if (st.IsNotFound()) {  // the server lost it (restart): register again, then push
      Status reg = EnsureRegistered(i);
      st = reg.ok() ? publisher_->Push(info, v) : reg;
      NoteServer(st);
    }
    if (!st.ok()) {
      const bool server_down = ServerDown(st);
      std::unique_lock<std::mutex> lk(mu_);
      Slot& s = slots_[i];
      if (!s.dirty) s.dirty_since = since;
      s.dirty = true;  // keep the latest state; it goes out when the server is back
      if (server_down) {  // NoteServer logged it
        lk.unlock();
        log_refusals();
        return false;
      }
      if (const std::string error = st.ToString(); error != s.push_error) {
        auto& r = refused[error];
        if (r.gpus++ == 0) r.first = info.uuid;
        s.push_error = error;
      }
      // A refusal of this one object (validation, conflicts, limits) must not hold back the
      // others: go on with them, and retry this one on the next change or full reconcile.
      s.push_refused = true;
      continue;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!slots_[i].push_error.empty()) ++accepted_again;
      slots_[i].push_error.clear();
    }
    metrics_.publish_latency.Get().Observe(std::chrono::duration<double>(Clock::now() - since).count());
  }
  log_refusals();
  size_t unhealthy = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& s : slots_) unhealthy += s.health.Verdict().ready ? 0 : 1;
  }
  metrics_.unhealthy.Get().Set(static_cast<double>(unhealthy));
  return true;
}

void Provider::SyncLoop() {
  std::mt19937_64 rng{std::random_device{}()};
  int failures = 0;
  auto next_reconcile = Clock::now();
  auto backoff = [&]() {
    auto base = std::min<long long>(cfg_.backoff_initial.count() << std::min(failures, 16), cfg_.backoff_max.count());
    std::uniform_real_distribution<double> u(0.5, 1.5);
    ++failures;
    return std::chrono::milliseconds(static_cast<long long>(base * u(rng)));
  };
  while (true) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      auto wake = std::min(next_reconcile, Clock::now() + std::chrono::seconds(1));
      cv_.wait_until(lk, wake, [&] {
        if (stop_ || need_full_sync_ || Clock::now() >= next_reconcile) return true;
        for (auto& s : slots_)
          if (s.dirty && !s.push_refused) return true;
        return false;
      });
      if (stop_) return;
      auto now = Clock::now();
      for (size_t i = 0; i < slots_.size(); ++i)
        if (slots_[i].health.ExpireWarnings(now, cfg_.warning_quiet_period)) MarkDirty(i, now);
    }
    // Read without mu_ (it asks NVML); a change rewrites every GPU, so that none stays True
    // while faults go unseen, and True comes back once they are seen again.
    std::string unseen = FaultsUnseen();
    bool full;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (unseen != unseen_) {
        if (unseen.empty()) spdlog::info("faults are seen again: NVMLReady follows NVML again");
        else spdlog::error("{}: faults go unseen; NVMLReady is written Unknown (NotWatched) instead of True", unseen);
        unseen_ = unseen;
        for (size_t i = 0; i < slots_.size(); ++i) MarkDirty(i, Clock::now());
      }
      full = need_full_sync_ || Clock::now() >= next_reconcile;
      // Cleared as the pass starts, where it is read: a trigger set while the pass runs (a
      // lease re-acquired after this pass wrote some GPU) asks for another pass.
      if (full) need_full_sync_ = false;
    }
    bool ok;
    if (full) {
      ok = Reconcile();
      if (ok) {
        std::lock_guard<std::mutex> lk(mu_);
        next_reconcile = Clock::now() + cfg_.reconcile_interval;
        metrics_.last_sync.Get().Set(UnixNow());
        if (!synced_once_.exchange(true)) spdlog::info("first sync done gpus={}", slots_.size());
      }
    } else {
      ok = PushDirty();
    }
    if (ok) {
      failures = 0;
    } else {
      {
        std::lock_guard<std::mutex> lk(mu_);
        need_full_sync_ = true;
      }
      if (!connected_) Connect();  // sync thread owns client_ and publisher_
      auto d = backoff();
      spdlog::debug("retrying in {}ms", d.count());
      if (!SleepFor(d)) return;
    }
  }
}

}  // namespace deviceapi::nvml
