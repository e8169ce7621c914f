#include "nvml/provider.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <map>
#include <random>
#include <set>

namespace deviceapi::nvml {

namespace {
// An event wait failing this long (two lease renewals, or this without a lease) means the
// provider no longer sees faults: its health check fails and it stops renewing its lease,
// so its GPUs turn Unknown (S28).
constexpr std::chrono::milliseconds kEventLoopStallWithoutLease{30000};
// What a wait may take beyond its timeout on a loaded machine.
constexpr std::chrono::milliseconds kEventWaitSlack{1000};
// How long Start() enumerates again while NVML cannot read some GPU for a reason other than
// its being lost.
constexpr std::chrono::milliseconds kEnumerateRetryFor{10000};

// UNAVAILABLE or DEADLINE_EXCEEDED: the server cannot be reached, so every other call would
// fail the same way. Any other error is the server refusing that one request.
bool ServerDown(const Status& s) { return s.IsUnavailable() || s.IsDeadlineExceeded(); }

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

Provider::Provider(ProviderConfig cfg)
    : cfg_(std::move(cfg)), policy_(cfg_.xids), metrics_(registry_), boot_time_(SystemBootTime()) {}

Provider::~Provider() { Stop(); }

bool Provider::Start(std::string* error) {
  NvmlLoadOptions lo;
  lo.driver_root = cfg_.driver_root;
  lo.deep_bind = cfg_.deep_bind;
  auto lib = NvmlLibrary::Load(lo, error);
  if (!lib) return false;
  spdlog::info("loaded NVML path={}", lib->path());
  nvml_ = NvmlDevices::Open(std::move(lib), error);
  if (!nvml_) return false;

  std::vector<std::string> warnings;
  auto gpus = nvml_->Enumerate(&warnings, &enumeration_gaps_);
  // An error other than GPU_IS_LOST (a driver still bringing a GPU up) most likely passes:
  // enumerate again, with backoff, for a bounded time (signals wait until Start returns).
  auto delay = std::chrono::milliseconds(200);
  for (auto waited = std::chrono::milliseconds(0); enumeration_gaps_.transient() && waited < kEnumerateRetryFor;
       waited += delay, delay = std::min(delay * 2, std::chrono::milliseconds(2000))) {
    spdlog::warn("enumerate: {}; enumerating again in {}ms", warnings.empty() ? "" : warnings.back(),
                 delay.count());
    metrics_.nvml_errors.WithLabels({"enumerate"}).Inc();
    std::this_thread::sleep_for(delay);
    warnings.clear();
    gpus = nvml_->Enumerate(&warnings, &enumeration_gaps_);
  }
  for (auto& w : warnings) {
    spdlog::warn("enumerate: {}", w);
    metrics_.nvml_errors.WithLabels({"enumerate"}).Inc();
    enumeration_gap_ += (enumeration_gap_.empty() ? "" : "; ") + w;
  }
  metrics_.gpus.Get().Set(static_cast<double>(gpus.size()));
  auto now = Clock::now();
  slots_.resize(gpus.size());
  for (size_t i = 0; i < gpus.size(); ++i) {
    Slot& s = slots_[i];
    s.info = gpus[i];
    s.dirty_since = now;
    spdlog::info("gpu index={} uuid={} name=\"{}\" pci={} memory={} arch={} driver={} cuda={}", s.info.index,
                 s.info.uuid, s.info.name, s.info.pci_bus_id, s.info.memory_total_bytes, s.info.architecture,
                 s.info.driver_version, s.info.cuda_driver_version);
  }

  // Events first, then the probe: NVML never replays an event from before registration, so a
  // fault arriving between the two is seen by one or the other, never by neither.
  watcher_ = std::make_unique<EventWatcher>(
      *nvml_, gpus, [this](const NvmlEvent& e) { OnEvent(e); },
      [this](const std::string& w, bool changed) { OnWaitError(w, changed); },
      static_cast<unsigned>(cfg_.event_wait_timeout.count()));
  std::string werr;
  if (watcher_->Start(&werr)) {
    events_running_ = true;
  } else {
    spdlog::error("events: {}", werr);
    metrics_.nvml_errors.WithLabels({"event_set"}).Inc();
    events_error_ = werr;
  }
  for (auto& line : EventRegistrationSummary()) spdlog::info("events {}", line);
  if (auto uncovered = watcher_->CoverageProblem(); !uncovered.empty()) {
    spdlog::error("events: {}", uncovered);
    metrics_.nvml_errors.WithLabels({"event_register"}).Inc();
  }

  for (size_t i = 0; i < gpus.size(); ++i) {
    // Read what is pending now; events may already be updating the same slot.
    bool lost = false;
    auto probe = nvml_->Probe(gpus[i].handle, &lost);
    std::lock_guard<std::mutex> lk(mu_);
    Slot& s = slots_[i];
    now = Clock::now();
    if (lost) s.health.OnGpuLost("NVML answers GPU_IS_LOST at startup", now);
    else if (probe) s.health.OnProbe(*probe, /*after_reset=*/false, now);
    s.probed_clean = !lost && probe && probe->clean();
    if (probe && !probe->unreadable.empty()) {
      spdlog::warn("startup gpu={} probe could not read: {}", s.info.uuid, probe->unreadable);
      metrics_.nvml_errors.WithLabels({"probe"}).Inc();
    }
    auto v = s.health.Verdict();
    if (!v.ready || !v.recommended_action.empty())
      spdlog::warn("startup gpu={} ready={} reason={} action={} message=\"{}\"", s.info.uuid, v.ready, v.reason,
                   v.recommended_action, v.message);
  }

  server_target_ = ResolveTarget(cfg_.server);
  Connect();
  spdlog::info("server target={}", server_target_);

  if (!cfg_.admin_address.empty()) {
    base::AdminHttpOptions admin;
    if (!base::ParseTcpAddress(cfg_.admin_address, &admin.address, error)) {
      *error = "--admin-address '" + cfg_.admin_address + "': " + *error;
      return false;
    }
    admin.registry = &registry_;
    admin.limits.max_connections = cfg_.admin_max_connections;
    admin.limits.max_connections_per_peer = cfg_.admin_max_connections_per_peer;
    admin.health_checks.push_back({"nvml-events", [this] { return EventLoopProblem(); }});
    admin.ready_checks.push_back({"server-sync", [this] { return ReadinessProblem(); }});
    admin_ = std::make_unique<base::AdminHttpServer>(std::move(admin));
    *error = admin_->Start();
    if (!error->empty()) return false;
    spdlog::info("admin listening address={} port={}", cfg_.admin_address, admin_->port());
  }
  sync_thread_ = std::thread([this] { SyncLoop(); });
  if (cfg_.lease_duration.count() > 0) StartLease();
  return true;
}

std::string Provider::EventLoopProblem() const {
  if (!watcher_) return "";
  if (!events_running_) return "NVML event loop not running: " + events_error_;
  if (auto uncovered = watcher_->CoverageProblem(); !uncovered.empty()) return uncovered;
  // An idle wait answers only when its timeout ends (up to 10 s): never count a healthy wait
  // as silent before two of them could have passed.
  const auto idle = 2 * cfg_.event_wait_timeout + kEventWaitSlack;
  const auto stall =
      std::max<std::chrono::milliseconds>(idle, cfg_.lease_duration.count() > 0 ? 2 * cfg_.lease_renew_period
                                                                                 : kEventLoopStallWithoutLease);
  const auto silent = std::chrono::steady_clock::now() - watcher_->LastAnsweredWait();
  if (silent < stall) return "";
  return "NVML event wait failing for " +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(silent).count()) + "s";
}

std::string Provider::FaultsUnseen() const {
  return NvmlAnswers() ? EventLoopProblem() : "NVML unreadable";
}

bool Provider::NvmlAnswers() const {
  unsigned int count = 0;
  return nvml_->api().DeviceGetCount == nullptr || nvml_->api().DeviceGetCount(&count) == NVML_SUCCESS;
}

void Provider::StartLease() {
  ClientOptions co;
  co.target = server_target_;
  co.default_timeout = cfg_.rpc_timeout;
  co.user_agent = "nvml-provider";
  lease_channel_ = std::make_unique<Client>(co);
  lease_client_ = std::make_unique<LeaseClient>(*lease_channel_, cfg_.rpc_timeout);
  LeaseKeeperOptions lo;
  lo.name = cfg_.lease_name;
  lo.namespace_name = cfg_.namespace_name;
  lo.holder = cfg_.lease_holder;
  if (lo.holder.empty()) {
    char host[256] = {};
    lo.holder = gethostname(host, sizeof(host) - 1) == 0 ? host : "nvml-provider";
  }
  lo.condition_types = {kReadyCondition};
  lo.duration = std::chrono::duration_cast<std::chrono::seconds>(cfg_.lease_duration);
  lo.renew_period = cfg_.lease_renew_period;
  lo.renew_if = [this] {
    std::string problem = FaultsUnseen();
    if (problem.empty()) {
      if (!renew_skip_logged_.empty()) spdlog::info("renewing lease {} again", cfg_.lease_name);
      renew_skip_logged_.clear();
      return true;
    }
    // A lease that does not exist cannot expire, and S29 then refuses nobody's True: create it
    // whenever the server has none (at start, or after a server restart lost it). Creating
    // writes nothing True: the reconcile it triggers publishes Unknown while faults go unseen.
    // One already there (an earlier run's, or ours) is left to run out.
    GetOptions go;
    go.namespace_name = cfg_.namespace_name;
    go.call.timeout = cfg_.rpc_timeout;
    go.call.canceller = canceller_;
    if (lease_client_->Get(cfg_.lease_name, go).status().IsNotFound()) return true;
    metrics_.nvml_errors.WithLabels({"lease_check"}).Inc();
    // Once when renewals stop, and again only when the reason changes, not every period.
    std::string reason = problem;
    std::erase_if(reason, [](char c) { return c >= '0' && c <= '9'; });
    if (reason != renew_skip_logged_)
      spdlog::error("{}: not renewing lease {}; NVMLReady turns Unknown", problem, cfg_.lease_name);
    renew_skip_logged_ = reason;
    return false;
  };
  lo.on_acquired = [this, holder = lo.holder] {
    spdlog::info("lease {} acquired holder={}: writing every GPU's conditions again", cfg_.lease_name,
                 holder);
    std::lock_guard<std::mutex> lk(mu_);
    need_full_sync_ = true;
    cv_.notify_all();
  };
  lo.on_error = [this](const Status& status) {
    spdlog::warn("lease {} not renewed: {}", cfg_.lease_name, status.ToString());
  };
  lease_keeper_ = std::make_unique<LeaseKeeper>(*lease_client_, std::move(lo));
  lease_keeper_->Start();
}

void Provider::Connect() {
  // A fresh channel per (re)connect round, with a local subchannel pool and a
  // bounded reconnect backoff: gRPC's own backoff grows to minutes and would
  // keep a restarted server unseen for longer than one reconcile interval.
  // Everything still goes through the SDK's Client.
  grpc::ChannelArguments args;
  int max_ms = static_cast<int>(std::min<long long>(cfg_.backoff_max.count(), cfg_.reconcile_interval.count()));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, std::max(max_ms, 100));
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetUserAgentPrefix("nvml-provider");
  args.SetMaxReceiveMessageSize(static_cast<int>(kDefaultMaxReceiveMessageBytes));  // lists of a large node
  ClientOptions co;
  co.target = server_target_;
  co.default_timeout = cfg_.rpc_timeout;
  co.user_agent = "nvml-provider";
  publisher_.reset();
  client_ = std::make_unique<Client>(grpc::CreateCustomChannel(server_target_, grpc::InsecureChannelCredentials(), args), co);
  publisher_ = std::make_unique<Publisher>(*client_, cfg_.namespace_name, cfg_.provider_name, cfg_.rpc_timeout,
                                          &metrics_, canceller_);
}

void Provider::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_ && !sync_thread_.joinable() && !watcher_) return;
    stop_ = true;
  }
  cv_.notify_all();
  canceller_->Cancel();
  if (lease_keeper_) lease_keeper_->Stop();  // releases the lease: NVMLReady turns Unknown now
  if (watcher_) watcher_->Stop();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (admin_) admin_->Stop();
  watcher_.reset();
}

std::vector<std::string> Provider::EventRegistrationSummary() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    unsigned long long m = watcher_ && i < watcher_->accepted().size() ? watcher_->accepted()[i] : 0;
    out.push_back("index=" + std::to_string(slots_[i].info.index) + " uuid=" + slots_[i].info.uuid +
                  " accepted=" + EventWatcher::MaskNames(m));
  }
  return out;
}

void Provider::MarkDirty(size_t i, Clock::time_point now) {
  if (!slots_[i].dirty) slots_[i].dirty_since = now;
  slots_[i].dirty = true;
  slots_[i].push_refused = false;
  cv_.notify_all();
}

void Provider::OnWaitError(const std::string& what, bool changed) {
  metrics_.nvml_errors.WithLabels({"event_wait"}).Inc();
  if (changed) spdlog::warn("events: {}", what);  // once while the same failure repeats
}

void Provider::OnEvent(const NvmlEvent& e) {
  auto now = Clock::now();
  std::string xid_label = e.kind == NvmlEvent::Kind::kXid ? std::to_string(e.data) : "";
  if (e.kind != NvmlEvent::Kind::kRewatched)  // ours, not NVML's
    metrics_.events.WithLabels({std::string(EventKindName(e.kind)), xid_label}).Inc();
  std::lock_guard<std::mutex> lk(mu_);
  if (e.gpu >= slots_.size()) return;
  Slot& s = slots_[e.gpu];
  bool changed = false;
  // After the driver stops asking for a recovery action: probe; clean means the GPU was reset.
  const auto check_reset = [&] {
    if (!s.health.reset_signalled()) return;
    bool lost = false;
    auto p = nvml_->Probe(s.info.handle, &lost);
    if (p) changed |= s.health.OnProbe(*p, /*after_reset=*/true, now);
    spdlog::info("reset check gpu={} uuid={} clean={} ready={}", s.info.index, s.info.uuid, p && p->clean(),
                 s.health.Verdict().ready);
  };
  switch (e.kind) {
    case NvmlEvent::Kind::kXid: {
      auto v = policy_.Classify(static_cast<uint32_t>(e.data));
      spdlog::warn("event gpu={} uuid={} xid={} mnemonic={} severity={} action={}", s.info.index, s.info.uuid,
                   e.data, v.mnemonic, SeverityName(v.severity), v.recommended_action);
      if (v.severity == Severity::kFollowRecoveryAction) {
        // Drivers without the recovery-action event say it only through this Xid.
        nvmlReturn_t r = NVML_SUCCESS;
        if (auto ra = nvml_->ReadRecoveryAction(s.info.handle, &r)) {
          changed = s.health.OnRecoveryAction(*ra, now);
          check_reset();
        } else {
          // The action changed and cannot be read: assume the driver wants a reset.
          spdlog::warn("gpu={} uuid={} recovery action unreadable: {}", s.info.index, s.info.uuid,
                       nvml_->lib().ErrorString(r));
          metrics_.nvml_errors.WithLabels({"recovery_action"}).Inc();
          changed = s.health.OnUnreadableRecoveryAction(nvml_->lib().ErrorString(r), now);
        }
      } else {
        changed = s.health.OnXid(static_cast<uint32_t>(e.data), v, now);
      }
      break;
    }
    case NvmlEvent::Kind::kDoubleBitEcc: {
      unsigned long long n = 0;
      if (nvml_->api().DeviceGetTotalEccErrors) nvml_->api().DeviceGetTotalEccErrors(s.info.handle, 1, 0, &n);
      spdlog::warn("event gpu={} uuid={} ecc=double-bit volatile_uncorrected={}", s.info.index, s.info.uuid, n);
      changed = s.health.OnDoubleBitEcc(n, now);
      break;
    }
    case NvmlEvent::Kind::kSingleBitEcc:
      spdlog::info("event gpu={} uuid={} ecc=single-bit (corrected; no health change)", s.info.index, s.info.uuid);
      break;
    case NvmlEvent::Kind::kGpuUnavailable:
    case NvmlEvent::Kind::kGpuLost:
      spdlog::error("event gpu={} uuid={} gpu lost ({})", s.info.index, s.info.uuid, EventKindName(e.kind));
      changed = s.health.OnGpuLost(e.kind == NvmlEvent::Kind::kGpuLost ? "NVML_ERROR_GPU_IS_LOST"
                                                                        : "GPU unavailable event",
                                   now);
      break;
    case NvmlEvent::Kind::kRewatched: {
      // Watched by a new event set: read what an event missed in between may have said.
      bool lost = false;
      auto p = nvml_->Probe(s.info.handle, &lost);
      if (lost) {
        changed = s.health.OnGpuLost("NVML answers GPU_IS_LOST", now);
      } else if (p) {
        // Only faults not known yet: one already standing is no new occurrence to count.
        HealthState seen;
        seen.OnProbe(*p, /*after_reset=*/false, now);
        for (const auto& [key, fault] : seen.faults())
          if (!s.health.faults().count(key)) changed |= s.health.AddFault(fault, now);
      }
      spdlog::debug("events gpu={} uuid={} watched by a new event set; probed clean={}", s.info.index, s.info.uuid,
                    p && p->clean());
      break;
    }
    case NvmlEvent::Kind::kRecoveryAction: {
      auto a = static_cast<RecoveryAction>(e.data <= 4 ? e.data : 1);
      spdlog::warn("event gpu={} uuid={} recovery_action={}", s.info.index, s.info.uuid, RecoveryActionName(a));
      changed = s.health.OnRecoveryAction(a, now);
      check_reset();
      break;
    }
  }
  if (changed) MarkDirty(e.gpu, now);
}

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

void Provider::EnumerateAgain() {
  std::vector<std::string> warnings;
  NvmlDevices::Gaps gaps;
  auto gpus = nvml_->Enumerate(&warnings, &gaps);
  if (gaps.count_failed) return;  // no better view than the one held
  std::vector<GpuInfo> added;
  {
    std::lock_guard<std::mutex> lk(mu_);
    std::set<std::string> known;
    for (const Slot& s : slots_) known.insert(s.info.uuid);
    for (auto& g : gpus) {
      if (known.count(g.uuid)) continue;
      // Appended, in the watcher's order too: a slot's index is its events' GPU index.
      Slot s;
      s.info = g;
      s.dirty_since = Clock::now();
      bool lost = false;
      auto probe = nvml_->Probe(g.handle, &lost);
      if (lost) s.health.OnGpuLost("NVML answers GPU_IS_LOST", Clock::now());
      else if (probe) s.health.OnProbe(*probe, /*after_reset=*/false, Clock::now());
      s.probed_clean = !lost && probe && probe->clean();
      spdlog::info("gpu index={} uuid={} identified now: watching and publishing it", g.index, g.uuid);
      slots_.push_back(std::move(s));
      added.push_back(g);
    }
    metrics_.gpus.Get().Set(static_cast<double>(slots_.size()));
  }
  if (!added.empty() && watcher_) watcher_->Add(std::move(added));
  enumeration_gaps_ = gaps;
  enumeration_gap_.clear();
  for (auto& w : warnings) enumeration_gap_ += (enumeration_gap_.empty() ? "" : "; ") + w;
  if (gaps.complete()) spdlog::info("enumerate: every GPU NVML counts is identified now");
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
