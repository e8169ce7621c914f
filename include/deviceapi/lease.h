// Provider leases (S28-S30): LeaseClient, the typed client of LeaseService,
// and LeaseKeeper, which holds one lease for a provider.
//
// A provider that owns conditions (nvml-provider owns NVMLReady) holds a
// Lease naming them and renews it well within lease_duration_seconds. When
// it stops renewing (crash, hang, lost NVML), the server turns each owned
// condition of every GPU Unknown (reason ProviderLeaseExpired) and refuses
// writes of True to them until the lease is renewed, so a consumer never
// reads True from a provider that stopped.
//
// LeaseKeeper runs one thread: every renew_period (with jitter) it acquires
// the lease (creates it, or takes over one whose holder stopped renewing:
// an update with the lease's resource_version, which the server counts in
// lease_transitions), or renews it. After any acquisition or a renewal that
// follows an expiry (also one that reached the server only after the lease
// ran out, as the server's renew times show), `on_acquired` runs (on the
// keeper's thread), so the provider writes its conditions again: the server
// set them Unknown. Stop() releases the lease (holder cleared, duration 1 s)
// whenever the server's copy, as this keeper last read or wrote it, names
// this holder, also after renewals stopped or failed (and when a create's
// answer was lost, as it reads the lease then): so the conditions turn
// Unknown at once instead of up to a full duration later (the release waits
// at most 2 s for the server, and never clears another holder's lease).
// SetRenewing(false) stops renewals without releasing, for a provider that
// can no longer see what it reports.
//
// Thread-safe. The callbacks run on the keeper's thread without its lock:
// they may call Last(), Held(), SetRenewing() and Stop(), but must not
// destroy the keeper.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "deviceapi/client.h"

namespace deviceapi {

using Lease = v1alpha1::Lease;
using LeaseList = v1alpha1::LeaseList;
using LeaseSpec = v1alpha1::LeaseSpec;

class LeaseClient {
 public:
  // Shares `client`'s channel (target, TLS) and its configuration error: a
  // TLS file the Client could not read fails every call with the Client's
  // INVALID_ARGUMENT. Each unary call without its own CallOptions::timeout
  // gets `default_timeout`.
  explicit LeaseClient(const Client& client,
                       std::chrono::milliseconds default_timeout = std::chrono::seconds(10));

  StatusOr<Lease> Get(std::string_view name, const GetOptions& options = {});
  StatusOr<LeaseList> List(const ListOptions& options = {});
  StatusOr<Lease> Create(const Lease& lease, const CreateOptions& options = {});
  // A non-empty metadata.resource_version makes it conditional (IsConflict()).
  StatusOr<Lease> Update(const Lease& lease, const UpdateOptions& options = {});
  Status Delete(std::string_view name, const DeleteOptions& options = {});

 private:
  std::chrono::milliseconds default_timeout_;
  Status channel_error_;
  std::unique_ptr<v1alpha1::LeaseService::Stub> stub_;
};

struct LeaseKeeperOptions {
  std::string name;            // the lease's name, e.g. "nvml-provider"
  std::string namespace_name;  // empty: "default"
  std::string holder;          // this process: its pod or host name
  std::vector<std::string> condition_types;  // what it owns, e.g. {"NVMLReady"}
  std::chrono::seconds duration{40};
  std::chrono::milliseconds renew_period{10000};
  double jitter = 0.1;  // each wait is renew_period * (1 +- jitter)
  // Runs after an acquisition or a renewal that follows an expiry.
  std::function<void()> on_acquired;
  // Asked before each renewal: false skips it (the holder can no longer see
  // what it reports, so the lease should run out). Null: always renew.
  std::function<bool()> renew_if;
  // Runs when an attempt fails with another error than the last failed one
  // (so a server that stays down, or has no LeaseService, is reported once).
  std::function<void(const Status&)> on_error;
};

class LeaseKeeper {
 public:
  LeaseKeeper(LeaseClient& leases, LeaseKeeperOptions options);
  ~LeaseKeeper();  // Stop()
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Starts the renewal thread (the first attempt is immediate).
  void Start();
  // Stops the thread and releases the lease (see above); returns once that
  // is done. A renewal in flight is cancelled, so against a server that
  // does not answer Stop() takes the release's 2 s, not a renewal's
  // deadline on top. Idempotent; concurrent calls all wait for the one release.
  // Waits for a callback in progress to return, except when called from a
  // callback: then it returns at once and the thread releases the lease as
  // it ends (Start() works again after a Stop() from another thread, or
  // the destructor, has joined it).
  void Stop();
  // false: stop renewing (the lease then expires), true: renew again.
  void SetRenewing(bool renewing);

  // One acquire-or-renew attempt, as the thread makes it. OK when this
  // holder holds the lease afterwards; FAILED_PRECONDITION when another
  // live holder has it; the server's error otherwise.
  Status RenewOnce();
  // Whether the last attempt acquired or renewed the lease. False after a
  // failed or skipped renewal, while the server may still hold the lease in
  // this holder's name until it runs out.
  bool Held() const { return held_.load(); }
  // The lease as the server returned it from this keeper's last successful
  // acquisition or renewal.
  Lease Last() const;

 private:
  void Run();
  bool Stopping() const;
  Status Release();
  Lease Desired(const Lease* current) const;
  // Records what the server returned (null: no such lease).
  void Saw(const Lease* lease);

  LeaseClient& leases_;
  const LeaseKeeperOptions options_;
  std::atomic<bool> held_{false};
  std::atomic<bool> renewing_{true};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  bool stopping_ = false;  // a Stop() is joining and releasing
  Lease last_;
  Lease seen_;  // the last lease the server returned, read or written
  // A Create was sent since a read last found no lease: with seen_ empty,
  // the server may still have made it (its answer lost).
  bool create_sent_ = false;
  // When releasing the lease last written must give up: set by the first
  // release (the thread's as it ends, or Stop()'s), so that all of them
  // together wait at most 2 s; cleared by Start() and by each acquisition
  // or renewal.
  std::optional<std::chrono::steady_clock::time_point> release_deadline_;
  // RenewOnce()'s calls; cancelled by Stop(), replaced by Start().
  std::shared_ptr<CallCanceller> renew_canceller_ = std::make_shared<CallCanceller>();
  std::thread thread_;
  std::thread::id keeper_thread_;  // thread_'s id from Start until a Stop() joined it
};

}  // namespace deviceapi
