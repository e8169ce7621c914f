// Everything the provider says to the server, through the public client SDK
// only: register a GPU (Create; AlreadyExists -> adopt), push its health
// (read-modify-write of status with resource_version, retried on conflict, so
// other providers' conditions survive), and prune objects this provider
// created for GPUs NVML no longer reports (or mark them lost while NVML cannot
// say which GPUs those are). Thread-compatible: one caller at a
// time (the provider's sync thread).
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "deviceapi/client.h"
#include "nvml/gpu_object.h"
#include "nvml/provider_metrics.h"

namespace deviceapi::nvml {

struct PublishResult {
  Status status;
  // Status as stored after the call (set when status is OK).
  std::optional<GpuStatus> stored;
};

class Publisher {
 public:
  // Every call takes `canceller` (may be null): cancelling it ends the call in flight and
  // fails every later one with CANCELLED at once, so a stopping provider does not wait out
  // --rpc-timeout on a server that does not answer.
  Publisher(Client& client, std::string namespace_name, std::string provider_name,
            std::chrono::milliseconds rpc_timeout, ProviderMetrics* metrics,
            std::shared_ptr<CallCanceller> canceller = nullptr);

  // Create, or adopt an existing object of the same name. On success returns
  // the stored object's status (so the caller can pick up carried-over faults).
  StatusOr<GpuStatus> Register(const GpuInfo& gpu);
  // Brings the server's NVMLReady/device_info/recommended_action for `gpu` in
  // line with `verdict`. NOT_FOUND means the object must be registered again.
  Status Push(const GpuInfo& gpu, const HealthVerdict& verdict);
  // Every GPU object in the namespace.
  StatusOr<GpuList> ListAll();
  // Deletes the objects of `list` labelled as created by this provider whose
  // name is not in `keep` (with a uid precondition). Returns the names deleted.
  StatusOr<std::vector<std::string>> Prune(const GpuList& list, const std::set<std::string>& keep);
  // Instead of Prune when NVML lists GPUs it cannot identify: the objects Prune
  // would delete are given `verdict`, since one of them is most likely such a
  // GPU and deleting it would erase its fault. A lost GPU (no readable UUID)
  // gets NVMLReady=False, GPULost, RESTART_BM; one NVML could not read for
  // another reason gets Unknown, which leaves a False (a fault) as it is.
  // Returns the names written (already marked ones are neither written nor logged again).
  StatusOr<std::vector<std::string>> MarkUnidentified(const GpuList& list, const std::set<std::string>& keep,
                                                      const HealthVerdict& verdict);

 private:
  void Count(const char* op, const Status& s);
  GetOptions Get() const;
  CallOptions Call() const;

  Client& client_;
  std::string ns_, provider_;
  std::chrono::milliseconds timeout_;
  ProviderMetrics* metrics_;
  std::shared_ptr<CallCanceller> canceller_;
};

}  // namespace deviceapi::nvml
