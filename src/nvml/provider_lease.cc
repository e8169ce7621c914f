// Whether the provider sees faults, and the lease that tells the server so
// (S28, S29): renewed only while NVML answers and its event loop runs.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "nvml/provider.h"

namespace deviceapi::nvml {

namespace {
// An event wait failing this long (two lease renewals, or this without a lease) means the
// provider no longer sees faults: its health check fails and it stops renewing its lease,
// so its GPUs turn Unknown (S28).
constexpr std::chrono::milliseconds kEventLoopStallWithoutLease{30000};
// What a wait may take beyond its timeout on a loaded machine.
constexpr std::chrono::milliseconds kEventWaitSlack{1000};
}  // namespace

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

}  // namespace deviceapi::nvml
