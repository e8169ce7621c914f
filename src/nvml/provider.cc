// The provider's life: loading NVML, enumerating and probing the GPUs at
// start, the admin endpoints, the server connection, and shutdown. The
// rest of the class lives beside it, one concern per file:
//   provider_events.cc  NVML events and re-enumeration, into health state;
//   provider_sync.cc    registration, reconcile and pushes to the server;
//   provider_lease.cc   whether faults are seen, and the lease that says so.
#include "nvml/provider.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace deviceapi::nvml {

namespace {
// How long Start() enumerates again while NVML cannot read some GPU for a reason other than
// its being lost.
constexpr std::chrono::milliseconds kEnumerateRetryFor{10000};
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

}  // namespace deviceapi::nvml
