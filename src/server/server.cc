#include "server/server.h"

#include <sys/stat.h>

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>

#include <atomic>
#include <future>
#include <vector>

#include "apiserver/gpu_service.h"
#include "apiserver/lease_controller.h"
#include "apiserver/lease_service.h"
#include "apiserver/readiness.h"
#include "metrics/registry.h"
#include "base/admin_http.h"
#include "server/heap_release.h"
#include "apiserver/condition_counts.h"
#include "server/grpc_metrics.h"
#include "server/grpc_options.h"
#include "server/guarded_listener.h"
#include "server/health_service.h"
#include "server/inflight_calls.h"
#include "base/logging.h"
#include "server/server_metrics.h"
#include "server/storage.h"
#include "server/store_options.h"
#include "server/tcp_bind_check.h"
#include "server/tls_termination.h"
#include "server/unix_socket.h"
#include "store/store.h"

namespace deviceapi::server {

using base::AdminHttpOptions;
using base::AdminHttpServer;
using base::LogDebug;
using base::LogError;
using base::LogFields;
using base::LogInfo;
using base::TcpAddress;
namespace {

constexpr const char* kGpuServiceName = "nvidia.nvsentinel.v1alpha1.GpuService";
constexpr const char* kLeaseServiceName = "nvidia.nvsentinel.v1alpha1.LeaseService";
// How often the readiness gate is polled for the health status. Cheap: once
// ready, Readiness::IsReady() is an atomic load.
constexpr std::chrono::milliseconds kReadinessPoll{50};
// Half-sent requests held for all the API's clients together, a listener
// each (guarded_listener.h); each connection may hold twice the largest
// request (http2_frame_guard.h).
constexpr std::uint64_t kMaxPendingRequestBytes = 64u << 20;
// Threads pumping the API's connections through the HTTP/2 guard.
constexpr std::size_t kApiListenerThreads = 1;
// At shutdown, how long the API's last bytes may take to reach clients once
// gRPC is done.
constexpr std::chrono::milliseconds kListenerFlush{200};
constexpr std::chrono::milliseconds kNoFlush{0};
// How long every call having begun to send its status may take to let
// gRPC's drain end by itself before what it holds is cancelled.
constexpr std::chrono::milliseconds kStatusSend{100};
// How often a faulted storage is tried again when no client writes.
constexpr std::chrono::milliseconds kStorageProbeInterval{1000};

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string Quote(const std::string& flag, const std::string& value) {
  return flag + " \"" + value + "\"";
}

}  // namespace

class Server::Impl {
 public:
  explicit Impl(Config config) : config_(std::move(config)) {}

  bool Start(std::string* error);
  void RequestShutdown() {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_requested_ = true;
    cv_.notify_all();
  }
  void WaitForShutdownRequest() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return shutdown_requested_; });
  }
  void Shutdown();

  Config config_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Readiness> readiness_;
  std::unique_ptr<apiserver::GpuServiceImpl> service_;
  // Leases live in a store of their own (own revisions, history, watchers):
  // a list or watch of one kind never walks the other's objects.
  std::unique_ptr<store::Store> lease_store_;
  std::unique_ptr<apiserver::LeaseServiceImpl> lease_service_;
  std::unique_ptr<apiserver::LeaseController> lease_controller_;
  std::unique_ptr<metrics::Registry> registry_;
  InflightCalls inflight_;
  std::unique_ptr<ServingState> health_;
  std::unique_ptr<HealthService> api_health_, probe_health_;
  std::unique_ptr<UnixSocketFile> socket_;
  std::unique_ptr<grpc::Server> api_server_, probe_server_;
  // Accept the connections and feed them to gRPC through an HTTP/2 guard
  // (guarded_listener.h): the API socket and the TCP listener (TLS ended there) to
  // api_server_, the probe port to probe_server_. Stopped after them.
  std::unique_ptr<GuardedListener> api_listener_, tcp_listener_, probe_listener_;
  std::unique_ptr<AdminHttpServer> admin_;
  int tcp_port_ = 0, probe_port_ = 0, metrics_port_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_requested_ = false;
  bool started_ = false, stopped_ = false;
  std::thread housekeeping_thread_;

 private:
  bool StartApi(std::string* error);
  bool StartProbe(std::string* error);
  bool StartAdmin(std::string* error);
  void HousekeepingLoop();
  void LogStarted(std::chrono::steady_clock::time_point t0);
  void Teardown();  // releases whatever Start bound, on failure
  void StopListeners();
};

bool Server::Impl::Start(std::string* error) {
  auto t0 = std::chrono::steady_clock::now();
  store::StoreOptions options = GpuStoreOptions(config_);
  registry_ = std::make_unique<metrics::Registry>();
  storage_ = OpenStorage(config_, *registry_, error);
  if (!storage_) return false;
  options.backend = storage_->gpus;
  store_ = std::make_unique<store::Store>(options);
  if (auto opened = store_->Open(); !opened.ok()) {
    *error = "cannot open the store: " + opened.error().message;
    return false;
  }
  store::Store* store = store_.get();
  readiness_ = std::make_unique<apiserver::Readiness>(
      config_.readiness_min_gpus, config_.readiness_grace_period,
      [store] { return store->Stats().objects; });
  readiness_->MarkStorageLoaded();

  apiserver::ServiceLimits limits;
  limits.max_conditions = config_.max_conditions;
  limits.selector.max_bytes = config_.max_label_selector_bytes;
  limits.selector.max_requirements = config_.max_label_selector_requirements;
  service_ = std::make_unique<apiserver::GpuServiceImpl>(*store_, *readiness_, limits);

  store::StoreOptions lease_options = LeaseStoreOptions(config_);
  lease_options.backend = storage_->leases;
  lease_store_ = std::make_unique<store::Store>(lease_options);
  if (auto opened = lease_store_->Open(); !opened.ok()) {
    *error = "cannot open the lease store: " + opened.error().message;
    return false;
  }
  lease_service_ = std::make_unique<apiserver::LeaseServiceImpl>(*lease_store_, *readiness_, limits);
  lease_controller_ = std::make_unique<apiserver::LeaseController>(service_->registry(),
                                                                   lease_service_->registry());
  service_->registry().SetAdmission(&lease_controller_->gpu_admission());
  lease_service_->registry().SetAdmission(&lease_controller_->lease_admission());
  if (auto started = lease_controller_->Start(); !started.ok()) {
    *error = "cannot start the lease controller: " + started.error().message;
    return false;
  }

  apiserver::Readiness* readiness = readiness_.get();
  ServerMetricsSources sources;
  sources.store_stats = [store] { return store->Stats(); };
  sources.lease_store_stats = [leases = lease_store_.get()] { return leases->Stats(); };
  sources.ready = [readiness] { return readiness->IsReady(); };
  // One count serves both families of a scrape (each parses every GPU).
  auto gpu_health = std::make_shared<apiserver::GpuHealthCounter>(*store);
  sources.gpu_conditions = [gpu_health] { return gpu_health->Get().conditions; };
  sources.gpu_recommended_actions = [gpu_health] { return gpu_health->Get().actions; };
  apiserver::LeaseController* leases = lease_controller_.get();
  sources.leases = [leases] {
    const auto s = leases->GetStats();
    return LeaseCounts{s.live, s.expired, s.conditions_set_unknown};
  };
  RegisterServerMetrics(*registry_, std::move(sources));

  health_ = std::make_unique<ServingState>(std::set<std::string>{kGpuServiceName, kLeaseServiceName});
  api_health_ = std::make_unique<HealthService>(*health_);
  probe_health_ = std::make_unique<HealthService>(*health_);

  if (!StartApi(error) || !StartProbe(error) || !StartAdmin(error)) {
    Teardown();
    return false;
  }
  started_ = true;
  housekeeping_thread_ = std::thread([this] { HousekeepingLoop(); });
  LogStarted(t0);
  return true;
}

bool Server::Impl::StartApi(std::string* error) {
  const std::string unix_flag = Quote("--bind-address", "unix://" + config_.api_socket.path);
  socket_ = std::make_unique<UnixSocketFile>(config_.api_socket.path);
  std::string why;
  if (!socket_->Prepare(&why)) {
    *error = unix_flag + ": " + why;
    return false;
  }
  if (config_.api_tcp && !CheckTcpBindable(*config_.api_tcp, &why)) {
    *error = Quote("--tcp-bind-address", config_.api_tcp->ToString()) + ": " + why;
    return false;
  }

  static std::once_flag reflection_once;
  std::call_once(reflection_once, [] { grpc::reflection::InitProtoReflectionServerBuilderPlugin(); });

  grpc::ServerBuilder builder;
  ApplyCommonOptions(config_, builder);
  builder.RegisterService(service_.get());
  builder.RegisterService(lease_service_.get());
  builder.RegisterService(api_health_.get());
  // No listening port: gRPC 1.51 cannot defend itself against HTTP/2 rapid
  // reset or stream floods (S33), so the Unix socket and the TCP listener
  // are accepted by GuardedListener, which checks every frame header before
  // gRPC sees it (and ends TLS itself to do so).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  // Declared services: their series exist from the start at zero, and paths
  // a client invents are counted under "unknown" instead of new series.
  interceptors.push_back(NewGrpcMetricsInterceptorFactory(
      *registry_, {kGpuServiceName, kLeaseServiceName, "grpc.health.v1.Health",
                   "grpc.reflection.v1alpha.ServerReflection"}));
  interceptors.push_back(inflight_.NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  api_server_ = builder.BuildAndStart();
  if (!api_server_) {
    *error = unix_flag + ": cannot start the API server";
    return false;
  }
  grpc::Server* api = api_server_.get();
  auto api_options = [this, api](const char* name, const char* metric_prefix, const char* subject) {
    GuardedListenerOptions o;
    o.name = name;
    o.metric_prefix = metric_prefix;
    o.metric_subject = subject;
    o.registry = registry_.get();
    o.cap_policy = ConnectionCapPolicy::kRefuseNew;
    o.back_off_peers = true;
    o.max_pending_bytes_total = kMaxPendingRequestBytes;
    o.max_connections = config_.max_connections;
    o.threads = kApiListenerThreads;
    o.guard = ApiGuardLimits(static_cast<std::uint32_t>(config_.max_streams_per_connection), config_.max_recv_msg_size);
    o.serve = [api](int fd) { grpc::AddInsecureChannelFromFd(api, fd); };
    return o;
  };
  if (config_.api_tcp) {
    GuardedListenerOptions tcp_options = api_options("API TCP", "device_apiserver_api_tcp", "the TCP API listener");
    tcp_options.address = *config_.api_tcp;
    if (config_.tls.enabled()) {
      std::unique_ptr<TlsServerContext> tls = TlsServerContext::Create(config_.tls, &why);
      if (!tls) {
        *error = Quote("--tls-cert-file", config_.tls.cert_file) + ": " + why;
        return false;
      }
      tcp_options.tls = std::move(tls);
    }
    tcp_listener_ = std::make_unique<GuardedListener>(std::move(tcp_options));
    if (std::string failed = tcp_listener_->Start(); !failed.empty()) {
      *error = Quote("--tcp-bind-address", config_.api_tcp->ToString()) + ": " + failed;
      return false;
    }
    tcp_port_ = tcp_listener_->port();
  }
  // The Unix socket after the TCP API listener: once it answers, both
  // accept (a client that waited for the socket may dial the TCP port at
  // once; test Listeners.TcpApiPortAcceptsOnceTheSocketDoes). The probe and
  // metrics ports start after it.
  const int unix_fd = socket_->Listen(&why);
  if (unix_fd < 0) {
    *error = unix_flag + ": " + why;
    return false;
  }
  GuardedListenerOptions unix_options = api_options("API", "device_apiserver_api", "the API socket");
  unix_options.listen_fd = unix_fd;
  api_listener_ = std::make_unique<GuardedListener>(std::move(unix_options));
  if (std::string failed = api_listener_->Start(); !failed.empty()) {
    *error = unix_flag + ": " + failed;
    return false;
  }
  if (!socket_->Secure(config_.socket_gid, &why)) {
    *error = (config_.socket_gid ? Quote("--socket-group", config_.socket_group) : unix_flag) + ": " + why;
    return false;
  }
  return true;
}

bool Server::Impl::StartProbe(std::string* error) {
  if (!config_.health_probe) return true;
  const std::string flag = Quote("--health-probe-bind-address", config_.health_probe->ToString());
  std::string why;
  if (!CheckTcpBindable(*config_.health_probe, &why)) {
    *error = flag + ": " + why;
    return false;
  }
  grpc::ServerBuilder builder;
  ApplyCommonOptions(config_, builder, kProbeMaxOpenStreams);
  builder.SetOption(WithoutReflection());
  builder.RegisterService(probe_health_.get());
  // No listening port: the probe port is accepted by GuardedListener (as the
  // API socket is), with the probe's stricter policy: a kubelet opens one
  // stream at a time, and the port may be reachable from the pod network.
  probe_server_ = builder.BuildAndStart();
  if (!probe_server_) {
    *error = flag + ": cannot start the health-probe server";
    return false;
  }
  GuardedListenerOptions options;
  options.address = *config_.health_probe;
  options.max_connections = config_.probe_max_connections;
  options.max_connections_per_peer = config_.probe_max_connections_per_peer;
  options.registry = registry_.get();
  grpc::Server* probe = probe_server_.get();
  options.serve = [probe](int fd) { grpc::AddInsecureChannelFromFd(probe, fd); };
  probe_listener_ = std::make_unique<GuardedListener>(std::move(options));
  if (std::string failed = probe_listener_->Start(); !failed.empty()) {
    *error = flag + ": " + failed;
    return false;
  }
  probe_port_ = probe_listener_->port();
  return true;
}

bool Server::Impl::StartAdmin(std::string* error) {
  if (!config_.metrics) return true;
  AdminHttpOptions options;
  options.address = *config_.metrics;
  options.registry = registry_.get();
  options.limits.max_connections = config_.admin_max_connections;
  options.limits.max_connections_per_peer = config_.admin_max_connections_per_peer;
  apiserver::Readiness* readiness = readiness_.get();
  options.ready_checks.push_back(
      {"readiness", [readiness] { return readiness->IsReady() ? std::string() : readiness->Reason(); }});
  // S26: a storage fault makes the server unready (writes fail) while reads
  // go on; the line says why.
  options.ready_checks.push_back({"storage", [storage = storage_.get()] {
                                    std::string fault = storage->Fault();
                                    return fault.empty() ? fault : "storage unavailable: " + fault;
                                  }});
  admin_ = std::make_unique<AdminHttpServer>(std::move(options));
  if (std::string why = admin_->Start(); !why.empty()) {
    *error = Quote("--metrics-bind-address", config_.metrics->ToString()) + ": " + why;
    return false;
  }
  metrics_port_ = admin_->port();
  return true;
}

// Every kReadinessPoll (50 ms): readiness into gRPC health, storage fault probes
// (S26, at most once a second), and free heap memory back to the kernel every
// --heap-release-interval (heap_release.h).
void Server::Impl::HousekeepingLoop() {
  bool last = false;
  std::string last_fault;
  auto next_probe = std::chrono::steady_clock::now();
  const auto release_every = config_.heap_release_interval;
  auto next_release = std::chrono::steady_clock::now() + release_every;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopped_) {
    lock.unlock();
    // A storage fault (S26) clears by itself once a write or this probe
    // commits again.
    std::string fault = storage_->Fault();
    if (!fault.empty() && std::chrono::steady_clock::now() >= next_probe) {
      storage_->Probe();
      fault = storage_->Fault();
      next_probe = std::chrono::steady_clock::now() + kStorageProbeInterval;
    }
    if (fault != last_fault) {
      if (fault.empty()) LogInfo("storage recovered: writes are committed again", {});
      else LogError("storage unavailable: writes answer UNAVAILABLE until it recovers", {{"reason", fault}});
      last_fault = fault;
    }
    // gRPC health stays with the read gate: reads keep serving during a
    // storage fault, and the liveness probe behind it must not restart a
    // server whose disk is full. /readyz reports the fault.
    bool ready = readiness_->IsReady();
    health_->SetServing(ready);
    if (ready != last) {
      LogInfo(ready ? "ready: serving" : "not ready", {{"reason", readiness_->Reason()}});
      last = ready;
    }
    if (release_every.count() > 0 && std::chrono::steady_clock::now() >= next_release) {
      ReleaseFreeHeap();
      next_release = std::chrono::steady_clock::now() + release_every;
    }
    lock.lock();
    cv_.wait_for(lock, kReadinessPoll, [this] { return stopped_; });
  }
}

void Server::Impl::LogStarted(std::chrono::steady_clock::time_point t0) {
  LogFields fields;
  auto bound = [](const std::optional<TcpAddress>& a, int port) -> std::string {
    if (!a) return "";
    TcpAddress b = *a;
    b.port = static_cast<std::uint16_t>(port);
    return b.ToString();
  };
  fields.emplace_back("version", BuildInfo::Current().version);
  fields.emplace_back("api_socket", config_.api_socket.path);
  fields.emplace_back("api_tcp", bound(config_.api_tcp, tcp_port_));
  fields.emplace_back("health_probe", bound(config_.health_probe, probe_port_));
  fields.emplace_back("metrics", bound(config_.metrics, metrics_port_));
  // Where the revisions resumed: above the file's highest (a restored backup
  // or a power cut may have lost later ones, which clients are then told are
  // too old).
  const store::StoreStats gpu_store = store_->Stats();
  fields.emplace_back("revision", gpu_store.current_revision);
  fields.emplace_back("revision_stored", gpu_store.loaded_revision);
  fields.emplace_back("startup_ms",
                      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  const nlohmann::json effective = ConfigToJson(config_);
  for (const auto& [key, value] : effective.items()) {
    if (value.is_string()) fields.emplace_back(key, value.get<std::string>());
    else if (value.is_number_unsigned()) fields.emplace_back(key, value.get<std::uint64_t>());
    else if (value.is_number_integer()) fields.emplace_back(key, value.get<std::int64_t>());
    else if (value.is_boolean()) fields.emplace_back(key, value.get<bool>());
    else if (value.is_null()) fields.emplace_back(key, "");
    else fields.emplace_back(key, value.dump());
  }
  LogInfo("device-api-server started", fields);
}

void Server::Impl::StopListeners() {
  for (auto* listener : {&api_listener_, &tcp_listener_, &probe_listener_}) {
    if (*listener) (*listener)->Stop();
  }
}

void Server::Impl::Teardown() {
  StopListeners();
  if (api_server_) api_server_->Shutdown(std::chrono::system_clock::now());
  if (probe_server_) probe_server_->Shutdown(std::chrono::system_clock::now());
  if (admin_) admin_->Stop();
  if (store_) store_->Shutdown();
  api_server_.reset();
  api_listener_.reset();
  tcp_listener_.reset();
  probe_listener_.reset();
  probe_server_.reset();
  if (socket_) socket_->Remove();
}

void Server::Impl::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    cv_.notify_all();
  }
  const auto t0 = std::chrono::steady_clock::now();
  health_->Shutdown();  // NOT_SERVING before anything stops (S22)
  LogInfo("shutting down", {{"grace_period_ms", config_.shutdown_grace_period.count()}});
  readiness_->BeginShutdown();
  if (housekeeping_thread_.joinable()) housekeeping_thread_.join();
  lease_controller_->Stop();  // no expiry writes while the stores go down

  // In-flight calls get most of the grace period; the rest is for tearing
  // down, so the process is gone before the kubelet's SIGKILL.
  const auto grace = config_.shutdown_grace_period;
  const auto drain = grace - std::min<std::chrono::milliseconds>(grace / 5, std::chrono::seconds(2));
  const auto deadline = std::chrono::system_clock::now() + drain;
  // No new connections; Shutdown() then sends GOAWAY and waits for running
  // calls; the store's shutdown meanwhile ends every watch with UNAVAILABLE,
  // so open watches never hold it up.
  for (auto* listener : {&api_listener_, &tcp_listener_}) {
    if (*listener) (*listener)->StopAccepting();
  }
  socket_->Remove();
  std::promise<void> drained;
  auto drained_future = drained.get_future();
  std::thread drainer([this, deadline, &drained] {
    api_server_->Shutdown(deadline);
    drained.set_value();
  });
  store_->Shutdown();
  lease_store_->Shutdown();
  LogDebug("store shut down", {{"ms", Since(t0)}, {"watch_streams", service_->Stats().active_watch_streams}});
  // Once every call has sent its status, nothing is left to wait for: end
  // the drain now rather than at gRPC's deadline (see inflight_calls.h).
  std::thread early_end([this, deadline, &drained_future] {
    // Server::Shutdown holds its lock while it waits, so do what it does at
    // its deadline, from here. A call counts as answered when gRPC is about
    // to send its status, not once it has: gRPC's own drain gets a moment to
    // end by itself first, as cancelling earlier replaced a status on its
    // way with CANCELLED (S22).
    const bool idle = inflight_.WaitIdle(deadline);
    if (idle && drained_future.wait_for(kStatusSend) != std::future_status::ready) {
      grpc_server_cancel_all_calls(api_server_->c_server());
    }
    // gRPC's last bytes (trailers, GOAWAY) are in the socketpairs: let them
    // reach the clients that read, then close whatever is left. A client
    // that stopped reading leaves gRPC stuck in a write its shutdown waits
    // for without end; closing the pair ends that write (S34). Past the
    // drain deadline nothing more is waited for.
    const auto flush_deadline = std::chrono::steady_clock::now() + (idle ? kListenerFlush : kNoFlush);
    for (auto* listener : {&api_listener_, &tcp_listener_}) {
      if (*listener) (*listener)->WaitIdle(flush_deadline);
    }
    for (auto* listener : {&api_listener_, &tcp_listener_}) {
      if (*listener) (*listener)->Stop();
    }
  });
  drainer.join();
  early_end.join();
  api_server_->Wait();
  LogDebug("API listeners drained", {{"ms", Since(t0)}, {"watch_streams", service_->Stats().active_watch_streams}});

  // The guard's thread first: it closes every probe connection, so the probe
  // server below has nothing left to wait for.
  if (probe_listener_) probe_listener_->Stop();
  if (probe_server_) {
    probe_server_->Shutdown(std::chrono::system_clock::now());
    probe_server_->Wait();
  }
  if (admin_) admin_->Stop();
  LogInfo("stopped", {{"shutdown_ms", std::chrono::duration<double, std::milli>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count()}});
}

Server::Server(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() {
  impl_->Shutdown();
  // Members are destroyed in reverse: servers before the service and store.
  impl_->admin_.reset();
  impl_->api_listener_.reset();
  impl_->tcp_listener_.reset();
  impl_->probe_listener_.reset();
  impl_->probe_server_.reset();
  impl_->api_server_.reset();
}

bool Server::Start(std::string* error) { return impl_->Start(error); }
void Server::RequestShutdown() { impl_->RequestShutdown(); }
void Server::WaitForShutdownRequest() { impl_->WaitForShutdownRequest(); }
void Server::Shutdown() { impl_->Shutdown(); }
int Server::tcp_port() const { return impl_->tcp_port_; }
int Server::health_probe_port() const { return impl_->probe_port_; }
int Server::metrics_port() const { return impl_->metrics_port_; }
store::Store* Server::StoreForTesting() { return impl_->store_.get(); }

}  // namespace deviceapi::server
