// The nvml-provider process logic: opens NVML, enumerates GPUs, reads their
// startup health, watches NVML events, and keeps the server's GPU objects in
// step through the client SDK.
//
// Threads: the NVML event thread (EventWatcher) only updates in-memory health
// and wakes the sync thread; the sync thread is the only one that talks to
// the server (pushes changed GPUs at once, runs a full reconcile every
// --reconcile-interval and after every reconnect, backs off with jitter while
// the server is unavailable and never gives up); the admin HTTP thread only
// reads. Start() fails (non-zero exit in main) only for NVML problems; a
// missing server is never fatal.
//
// The provider lease (S28): a LeaseKeeper thread holds the Lease
// --lease-name owning NVMLReady, renewing it every --lease-renew-period
// while NVML still answers; when NVML stops answering (or faults go unseen)
// it stops renewing rather than keep reporting healthy, and the server turns
// NVMLReady Unknown after --lease-duration, as it does when this process is
// killed or hangs. Meanwhile it writes Unknown itself instead of True, and
// creates the lease whenever the server has none, so that S29 holds.
// Each (re)acquisition triggers a full reconcile, which writes NVMLReady
// again where expiry set it Unknown. Stop() releases the lease.
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/admin_http.h"
#include "deviceapi/client.h"
#include "deviceapi/lease.h"
#include "metrics/registry.h"
#include "nvml/event_watcher.h"
#include "nvml/health_state.h"
#include "nvml/nvml_devices.h"
#include "nvml/provider_config.h"
#include "nvml/provider_metrics.h"
#include "nvml/publisher.h"

namespace deviceapi::nvml {

class Provider {
 public:
  explicit Provider(ProviderConfig cfg);
  ~Provider();

  bool Start(std::string* error);
  void Stop();

  int admin_port() const { return admin_ ? admin_->port() : -1; }
  // One line per GPU: "index uuid accepted-event-types" (for logs and gpu-check).
  std::vector<std::string> EventRegistrationSummary() const;

 private:
  struct Slot {
    GpuInfo info;
    HealthState health;
    bool dirty = true;
    // The server refused the last push of this object (not for being down): it is retried
    // with the next change or full reconcile, not at once.
    bool push_refused = false;
    bool registered = false;
    bool probed_clean = false;  // the startup probe answered and found nothing
    // Why the server refused to create this GPU's object (not for being down), "" when it
    // has not: the GPU is left out of pushes and tried again at the next full reconcile.
    std::string register_error;
    std::string push_error;  // the last push's refusal, logged once while it repeats
    Clock::time_point dirty_since{};
  };

  void OnEvent(const NvmlEvent& e);
  void OnWaitError(const std::string& what, bool changed);
  void SyncLoop();
  bool Reconcile();            // sync thread only
  // While NVML could not read every GPU it counted (for another reason than its being lost):
  // enumerates again, and watches and publishes the GPUs it can identify now. Sync thread.
  void EnumerateAgain();
  // Pushes every changed GPU; false only when the server is unavailable (the rest wait).
  bool PushDirty();            // sync thread only
  // OK, or why the GPU could not be registered. Only a server that is down (UNAVAILABLE,
  // DEADLINE_EXCEEDED) stops a reconcile; any other refusal is kept in the slot and the pass goes on.
  Status EnsureRegistered(size_t i);
  // For /readyz: "" once the first full sync is done and every GPU is registered, else
  // what is missing (which GPUs the server refused, and why).
  std::string ReadinessProblem() const;
  void MarkDirty(size_t i, Clock::time_point now);  // caller holds mu_
  void NoteServer(const Status& s);
  void Connect();              // (re)creates client_ and publisher_
  bool SleepFor(std::chrono::milliseconds d);  // false when stopping
  bool Stopping() const;
  void StartLease();
  bool NvmlAnswers() const;
  // Why faults may go unseen ("" when they are seen): no event set could be made, a GPU
  // watched has no Xid events registered, or the event wait has been failing for two
  // lease renew periods (30 s without a lease), or two event wait timeouts and a second
  // when that is longer. /healthz fails and the lease is not
  // renewed (created first when there is none, so that it can expire), so the GPUs turn
  // Unknown (S28).
  std::string EventLoopProblem() const;
  // Why faults may go unseen now, NVML not answering included ("" when they are seen).
  std::string FaultsUnseen() const;

  ProviderConfig cfg_;
  XidPolicy policy_;
  metrics::Registry registry_;
  ProviderMetrics metrics_;
  std::unique_ptr<NvmlDevices> nvml_;
  std::unique_ptr<Client> client_;
  std::string server_target_;
  std::unique_ptr<Publisher> publisher_;
  // Cancelled by Stop(): the sync thread's calls in flight end at once and later ones fail
  // without reaching the server, so a server that does not answer cannot hold shutdown up.
  std::shared_ptr<CallCanceller> canceller_ = std::make_shared<CallCanceller>();
  std::unique_ptr<EventWatcher> watcher_;
  std::unique_ptr<base::AdminHttpServer> admin_;
  std::unique_ptr<Client> lease_channel_;  // a channel of its own: Connect() replaces client_
  std::unique_ptr<LeaseClient> lease_client_;
  std::unique_ptr<LeaseKeeper> lease_keeper_;
  std::chrono::system_clock::time_point boot_time_;
  // Set at start when NVML listed GPUs it could not identify (or could not count
  // them), after enumerating again for a while when nothing said a GPU is lost:
  // objects without a GPU are then not deleted (Reconcile).
  NvmlDevices::Gaps enumeration_gaps_;  // sync thread only after Start()
  std::string enumeration_gap_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  bool stop_ = false;
  bool need_full_sync_ = true;
  std::atomic<bool> synced_once_{false};
  std::atomic<bool> connected_{false};
  std::atomic<bool> events_running_{false};
  std::string events_error_;  // why the event set could not be made; set in Start()
  // The lease keeper's thread only: why renewals are skipped, as last logged (digits left
  // out, so that "failing for 3s" and "for 4s" are one reason); "" while renewing.
  std::string renew_skip_logged_;
  // FaultsUnseen() as the sync thread last saw it: while set, no GPU is published True.
  std::string unseen_;  // guarded by mu_
  std::thread sync_thread_;
};

}  // namespace deviceapi::nvml
