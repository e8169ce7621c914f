// LeaseClient: one stub on a Client's channel. LeaseKeeper: one thread that
// acquires, renews, takes over and releases one lease (deviceapi/lease.h).
#include "deviceapi/lease.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <random>

#include "client/request_options.h"

namespace deviceapi {
namespace {

using client_internal::NamespaceOrDefault;
using client_internal::UnaryCall;
using Stub = v1alpha1::LeaseService::Stub;
using google::protobuf::util::TimeUtil;

// How long a stop's release waits for the server, all its calls together.
constexpr std::chrono::seconds kReleaseTime{2};

// When the lease runs out unless renewed (ms since the epoch): its renew
// time plus its duration.
std::int64_t ExpiresAt(const Lease& lease) {
  return TimeUtil::TimestampToMilliseconds(lease.spec().renew_time()) +
         1000LL * lease.spec().lease_duration_seconds();
}

// The lease's holder stopped renewing: its renew time plus duration passed.
bool Expired(const Lease& lease) {
  if (!lease.spec().has_renew_time()) return true;
  return TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime()) >= ExpiresAt(lease);
}

// The lease ran out between `read` and the renewal `written` made of it, by
// the server's own stamps: it stamped the renewal no earlier than the read
// copy's expiry. Expiry changes the GPUs, not the lease, so such a renewal
// succeeds all the same, with the owned conditions already Unknown.
bool LapsedBefore(const Lease& read, const Lease& written) {
  if (!read.spec().has_renew_time() || !written.spec().has_renew_time()) return true;
  return TimeUtil::TimestampToMilliseconds(written.spec().renew_time()) >= ExpiresAt(read);
}

}  // namespace

LeaseClient::LeaseClient(const Client& client, std::chrono::milliseconds default_timeout)
    : default_timeout_(default_timeout),
      channel_error_(client.channel_error_),
      stub_(v1alpha1::LeaseService::NewStub(client.channel())) {}

StatusOr<Lease> LeaseClient::Get(std::string_view name, const GetOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::GetLeaseRequest req;
  req.set_name(std::string(name));
  req.set_namespace_(NamespaceOrDefault(options.namespace_name));
  req.mutable_opts()->set_resource_version(options.resource_version);
  auto resp = UnaryCall(*stub_, &Stub::GetLease, req, options.call, default_timeout_);
  if (!resp.ok()) return resp.status();
  return std::move(*resp->mutable_lease());
}

StatusOr<LeaseList> LeaseClient::List(const ListOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::ListLeasesRequest req;
  req.set_namespace_(options.namespace_name);
  req.mutable_opts()->set_resource_version(options.resource_version);
  req.mutable_opts()->set_label_selector(options.label_selector);
  req.mutable_opts()->set_resource_version_match(options.resource_version_match);
  auto resp = UnaryCall(*stub_, &Stub::ListLeases, req, options.call, default_timeout_);
  if (!resp.ok()) return resp.status();
  return std::move(*resp->mutable_lease_list());
}

StatusOr<Lease> LeaseClient::Create(const Lease& lease, const CreateOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::CreateLeaseRequest req;
  *req.mutable_lease() = lease;
  return UnaryCall(*stub_, &Stub::CreateLease, req, options.call, default_timeout_);
}

StatusOr<Lease> LeaseClient::Update(const Lease& lease, const UpdateOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::UpdateLeaseRequest req;
  *req.mutable_lease() = lease;
  return UnaryCall(*stub_, &Stub::UpdateLease, req, options.call, default_timeout_);
}

Status LeaseClient::Delete(std::string_view name, const DeleteOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::DeleteLeaseRequest req;
  req.set_name(std::string(name));
  req.set_namespace_(NamespaceOrDefault(options.namespace_name));
  client_internal::SetPreconditions(options, req.mutable_opts());
  return UnaryCall(*stub_, &Stub::DeleteLease, req, options.call, default_timeout_).status();
}

LeaseKeeper::LeaseKeeper(LeaseClient& leases, LeaseKeeperOptions options)
    : leases_(leases), options_(std::move(options)) {}

LeaseKeeper::~LeaseKeeper() { Stop(); }

Lease LeaseKeeper::Desired(const Lease* current) const {
  Lease lease;
  if (current != nullptr) lease = *current;
  auto* meta = lease.mutable_metadata();
  meta->set_name(options_.name);
  meta->set_namespace_(NamespaceOrDefault(options_.namespace_name));
  auto* spec = lease.mutable_spec();
  if (current == nullptr || current->spec().holder_identity() != options_.holder) {
    spec->clear_acquire_time();  // the server stamps a new holder's acquisition
  }
  spec->set_holder_identity(options_.holder);
  spec->set_lease_duration_seconds(static_cast<int>(options_.duration.count()));
  spec->clear_condition_types();
  for (const auto& t : options_.condition_types) spec->add_condition_types(t);
  spec->clear_renew_time();  // the server's clock
  return lease;
}

void LeaseKeeper::Saw(const Lease* lease) {
  std::lock_guard<std::mutex> lock(mu_);
  if (lease != nullptr) {
    seen_ = *lease;
  } else {
    seen_.Clear();
    create_sent_ = false;
  }
}

Status LeaseKeeper::RenewOnce() {
  // Stop() cancels these calls: a stalled server cannot hold it up for
  // their deadlines before the release even starts.
  CallOptions call;
  {
    std::lock_guard<std::mutex> lock(mu_);
    call.canceller = renew_canceller_;
  }
  auto current = leases_.Get(options_.name, {options_.namespace_name, "", call});
  if (current.ok()) Saw(&*current);
  else if (current.status().IsNotFound()) Saw(nullptr);
  StatusOr<Lease> written = Status(grpc::StatusCode::UNKNOWN, "");
  bool acquired = false;
  if (current.status().IsNotFound()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      create_sent_ = true;
    }
    written = leases_.Create(Desired(nullptr), {call});
    acquired = true;
  } else if (!current.ok()) {
    held_ = false;
    return current.status();
  } else {
    const Lease& lease = *current;
    const bool mine = lease.spec().holder_identity() == options_.holder;
    const bool expired = Expired(lease);
    if (!mine && !expired && !lease.spec().holder_identity().empty()) {
      held_ = false;
      return Status(grpc::StatusCode::FAILED_PRECONDITION,
                    "lease " + options_.name + " is held by \"" +
                        lease.spec().holder_identity() + "\"");
    }
    // Renewal, or take-over of an expired or released lease: conditional on
    // the version read, so two contenders never both win.
    written = leases_.Update(Desired(&lease), {call});
    acquired = !mine || expired || !held_.load() || (written.ok() && LapsedBefore(lease, *written));
  }
  if (!written.ok()) {
    held_ = false;
    return written.status();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = *written;
    seen_ = *written;
    release_deadline_.reset();  // a lease to release, with time of its own
  }
  held_ = true;
  if (acquired && options_.on_acquired) options_.on_acquired();
  return Status();
}

Lease LeaseKeeper::Last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

void LeaseKeeper::SetRenewing(bool renewing) {
  renewing_ = renewing;
  cv_.notify_all();
}

void LeaseKeeper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  stop_ = false;
  release_deadline_.reset();
  renew_canceller_ = std::make_shared<CallCanceller>();  // the last Stop() cancelled the old one
  thread_ = std::thread([this] { Run(); });
  keeper_thread_ = thread_.get_id();
}

bool LeaseKeeper::Stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void LeaseKeeper::Run() {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> spread(1.0 - options_.jitter, 1.0 + options_.jitter);
  std::string last_error;
  // The callbacks (renew_if, on_acquired, on_error) run without mu_: they
  // may call Last(), Held(), SetRenewing() and Stop().
  while (!Stopping()) {
    if (renewing_.load() && (!options_.renew_if || options_.renew_if())) {
      if (Stopping()) break;
      Status status = RenewOnce();
      const std::string error = status.ok() ? "" : status.ToString();
      if (!error.empty() && error != last_error && options_.on_error) options_.on_error(status);
      last_error = error;
    } else {
      held_ = false;  // it will expire: the next renewal counts as an acquisition
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        options_.renew_period * spread(rng));
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [this] { return stop_; });
  }
  // Stopped, perhaps by a callback, which cannot wait for its own thread:
  // release here, before the thread ends.
  (void)Release();
}

Status LeaseKeeper::Release() {
  Lease lease;
  // No lease seen, but a Create sent whose answer may have been lost while
  // the server made it: look before concluding there is nothing to release.
  bool look = false;
  std::chrono::steady_clock::time_point deadline;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lease = seen_;
    look = lease.metadata().name().empty() && create_sent_;
    if (!release_deadline_) release_deadline_ = std::chrono::steady_clock::now() + kReleaseTime;
    deadline = *release_deadline_;
  }
  held_ = false;
  // Sets the call's timeout to what is left of the deadline; false: nothing.
  auto time_left = [&](CallOptions& call) {
    call.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return call.timeout > std::chrono::milliseconds(0);
  };
  const Status out_of_time(grpc::StatusCode::DEADLINE_EXCEEDED,
                           "no time left to release lease " + options_.name);
  for (int attempt = 0;; ++attempt) {
    if (look) {
      GetOptions get;
      get.namespace_name = options_.namespace_name;
      if (!time_left(get.call)) return out_of_time;
      StatusOr<Lease> current = leases_.Get(options_.name, get);
      if (current.status().IsNotFound()) {
        Saw(nullptr);
        return Status();
      }
      if (!current.ok()) return current.status();
      Saw(&*current);
      lease = *current;
      look = false;
    }
    // Whether or not this keeper still renews it: a lease the server holds
    // in this holder's name keeps the owned conditions standing until it
    // runs out.
    if (lease.metadata().name().empty() || lease.spec().holder_identity() != options_.holder)
      return Status();
    // Holder cleared and a duration of 1 s: the owned conditions turn
    // Unknown now, and the next holder takes over without waiting.
    // Conditional on the version seen, so it never clears another holder.
    lease.mutable_spec()->set_holder_identity("");
    lease.mutable_spec()->set_lease_duration_seconds(1);
    lease.mutable_spec()->clear_renew_time();
    UpdateOptions options;
    if (!time_left(options.call)) return out_of_time;
    StatusOr<Lease> released = leases_.Update(lease, options);
    if (released.ok()) {
      Saw(&*released);
      return Status();
    }
    // Changed since this keeper saw it (e.g. a renewal whose answer was
    // lost, or another writer): look again, once.
    if (!released.status().IsConflict() || attempt > 0) return released.status();
    look = true;
  }
}

void LeaseKeeper::Stop() {
  std::unique_lock<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
  // A renewal in flight ends now rather than at its deadline; the release
  // that follows makes calls of its own.
  renew_canceller_->Cancel();
  // From a callback on the keeper's own thread, which cannot join itself:
  // Run() releases the lease once the callback returns. Recognised by the
  // id recorded at Start, not by thread_, which another Stop() may have
  // moved out already to join it.
  if (keeper_thread_ == std::this_thread::get_id()) return;
  // One caller joins and releases; others wait until it is done.
  stop_cv_.wait(lock, [this] { return !stopping_; });
  stopping_ = true;
  std::thread thread = std::move(thread_);
  lock.unlock();
  if (thread.joinable()) thread.join();
  // A no-op when the thread released it already; after the thread's failed
  // release, one more try in the time the thread left.
  (void)Release();
  lock.lock();
  keeper_thread_ = std::thread::id();
  stopping_ = false;
  stop_cv_.notify_all();
}

}  // namespace deviceapi
