// Configuration of the nvml-provider process: flags, each with an environment
// variable, plus the NVIDIA device plugin's DP_DISABLE_HEALTHCHECKS /
// DP_ENABLE_HEALTHCHECKS. Parsing is pure (argv + an env lookup in, config or
// error out) so it is unit-tested without a process.
#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "nvml/xid_policy.h"

namespace deviceapi::nvml {

struct ProviderConfig {
  std::string server;                 // gRPC target; empty: SDK default ($DEVICE_API_SERVER, node socket)
  std::string driver_root = "/";      // --driver-root / NVIDIA_DRIVER_ROOT
  std::string namespace_name = "default";
  std::string provider_name = "nvml-provider";  // value of the managed-by label
  std::chrono::milliseconds reconcile_interval{30000};
  std::chrono::milliseconds warning_quiet_period{300000};
  std::chrono::milliseconds event_wait_timeout{100};
  std::chrono::milliseconds rpc_timeout{5000};
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{10000};
  std::string admin_address = "127.0.0.1:8082";  // /healthz /readyz /metrics; empty: off
  std::size_t admin_max_connections = 64;         // open admin HTTP connections, in all
  std::size_t admin_max_connections_per_peer = 16;  // ... and from one IP address
  std::string log_level = "info";
  bool deep_bind = true;
  XidPolicyConfig xids;
  // The provider lease (S28): while this process renews it, NVMLReady
  // stands; when it stops (crash, hang, NVML unreadable) the server turns
  // NVMLReady Unknown on every GPU after lease_duration. 0: no lease (a
  // server without LeaseService, such as NVSentinel's).
  std::string lease_name = "nvml-provider";
  std::string lease_holder;  // $POD_NAME, else the host name
  std::chrono::milliseconds lease_duration{40000};
  std::chrono::milliseconds lease_renew_period{10000};
};

struct ParseOutcome {
  std::optional<ProviderConfig> config;
  int exit_code = 0;    // when no config: 0 for --help/--version, 2 for usage errors
  std::string output;   // help text or error message
  std::vector<std::string> warnings;  // settings read with a part skipped; to log once logging is up
};

using EnvLookup = std::function<std::optional<std::string>(const char*)>;
ParseOutcome ParseProviderFlags(int argc, const char* const* argv, const EnvLookup& env);
EnvLookup ProcessEnv();

}  // namespace deviceapi::nvml
