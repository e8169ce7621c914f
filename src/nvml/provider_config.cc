#include "nvml/provider_config.h"

#include <algorithm>
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "base/build_info.h"
#include "base/command_line.h"
#include "base/listen_address.h"
#include "base/logging.h"
#include "base/units.h"

namespace deviceapi::nvml {

EnvLookup ProcessEnv() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

ParseOutcome ParseProviderFlags(int argc, const char* const* argv, const EnvLookup& env) {
  ParseOutcome out;
  ProviderConfig cfg;
  auto envor = [&](const char* name, const std::string& def) { return env(name).value_or(def); };
  std::string server = envor("DEVICE_API_SERVER", "");
  std::string driver_root = envor("NVIDIA_DRIVER_ROOT", cfg.driver_root);
  std::string reconcile = envor("NVML_PROVIDER_RECONCILE_INTERVAL", "30s");
  std::string quiet = envor("NVML_PROVIDER_WARNING_QUIET_PERIOD", "5m");
  std::string wait = envor("NVML_PROVIDER_EVENT_WAIT_TIMEOUT", "100ms");
  std::string rpc_timeout = envor("NVML_PROVIDER_RPC_TIMEOUT", "5s");
  std::string backoff_max = envor("NVML_PROVIDER_BACKOFF_MAX", "10s");
  std::string ignore = envor("NVML_PROVIDER_IGNORE_XIDS", "");
  std::string fatal = envor("NVML_PROVIDER_FATAL_XIDS", "");
  std::string admin = envor("NVML_PROVIDER_ADMIN_ADDRESS", cfg.admin_address);
  std::size_t admin_max = cfg.admin_max_connections, admin_max_peer = cfg.admin_max_connections_per_peer;
  std::string ns = envor("NVML_PROVIDER_NAMESPACE", cfg.namespace_name);
  std::string name = envor("NVML_PROVIDER_NAME", cfg.provider_name);
  std::string level = envor("NVML_PROVIDER_LOG_LEVEL", cfg.log_level);
  std::string lease_duration = envor("NVML_PROVIDER_LEASE_DURATION", "40s");
  std::string lease_renew = envor("NVML_PROVIDER_LEASE_RENEW_PERIOD", "10s");
  std::string lease_name = envor("NVML_PROVIDER_LEASE_NAME", cfg.lease_name);
  std::string lease_holder = envor("POD_NAME", "");
  bool no_default_ignores = false, no_deep_bind = false, show_version = false;

  CLI::App app{"nvml-provider: registers this node's GPUs with the device API server and keeps their "
               "NVMLReady condition in step with NVML (Xid, ECC, GPU lost, recovery action).\n"
               "Durations: 500ms, 30s, 1m30s.",
               "nvml-provider"};
  app.add_option("--server", server, "Device API server target, e.g. unix:///run/device-api.sock (env DEVICE_API_SERVER)");
  app.add_option("--driver-root", driver_root, "Root of the driver install holding libnvidia-ml.so.1 (env NVIDIA_DRIVER_ROOT)");
  app.add_option("--reconcile-interval", reconcile, "Full resync with the server this often");
  app.add_option("--warning-quiet-period", quiet, "Warning-class faults clear after this long without a repeat");
  app.add_option("--event-wait-timeout", wait, "NVML event wait timeout (bounds shutdown latency)");
  app.add_option("--rpc-timeout", rpc_timeout, "Deadline of each call to the server");
  app.add_option("--backoff-max", backoff_max, "Longest wait between retries while the server is down");
  app.add_option("--ignore-xids", ignore, "Comma-separated Xids that never change health (env NVML_PROVIDER_IGNORE_XIDS)");
  app.add_option("--fatal-xids", fatal, "Comma-separated Xids that always make NVMLReady=False (env NVML_PROVIDER_FATAL_XIDS)");
  app.add_flag("--no-default-ignored-xids", no_default_ignores, "Do not ignore the Kubernetes default list 13,31,43,45,68");
  app.add_option("--admin-address", admin, "host:port for /healthz, /readyz, /metrics; port 0 picks one; empty: off");
  app.add_option("--admin-max-connections", admin_max,
                 "Open admin HTTP connections; beyond it the longest-waiting one is closed")
      ->check(CLI::Range(1, 65536));
  app.add_option("--admin-max-connections-per-peer", admin_max_peer,
                 "Open admin HTTP connections from one IP address; beyond it that peer's longest-waiting one is closed")
      ->check(CLI::Range(1, 65536));
  app.add_option("--namespace", ns, "Namespace of the GPU objects");
  app.add_option("--provider-name", name, "Value of the app.kubernetes.io/managed-by label on GPUs this provider creates");
  app.add_option("--lease-duration", lease_duration,
                 "NVMLReady turns Unknown this long after the lease's last renewal; 0: hold no lease (env NVML_PROVIDER_LEASE_DURATION)");
  app.add_option("--lease-renew-period", lease_renew, "How often the lease is renewed (env NVML_PROVIDER_LEASE_RENEW_PERIOD)");
  app.add_option("--lease-name", lease_name, "Name of the provider's Lease object (env NVML_PROVIDER_LEASE_NAME)");
  app.add_option("--lease-holder", lease_holder, "Holder identity in the Lease (env POD_NAME; default: the host name)");
  app.add_option("--log-level", level, "trace, debug, info, warn, error");
  app.add_flag("--no-deep-bind", no_deep_bind, "dlopen NVML without RTLD_DEEPBIND");
  app.add_flag("--version", show_version, "Print version information as JSON and exit");
  try {
    std::vector<std::string> args = base::CommandLineArgs(argc, argv);
    std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out.output = app.help();
    out.exit_code = 0;
    return out;
  } catch (const CLI::ParseError& e) {
    out.output = e.what();
    out.exit_code = 2;
    return out;
  }
  if (show_version) {
    // The same document as device-api-server --version and its /version.
    out.output = base::BuildInfo::Current().ToJson();
    out.exit_code = 0;
    return out;
  }
  auto fail = [&](std::string msg) {
    out.output = std::move(msg);
    out.exit_code = 2;
    return out;
  };
  struct DurationFlag {
    const char* flag;
    const std::string& text;
    std::chrono::milliseconds* into;
  };
  for (const DurationFlag& d : {DurationFlag{"--reconcile-interval", reconcile, &cfg.reconcile_interval},
                                DurationFlag{"--warning-quiet-period", quiet, &cfg.warning_quiet_period},
                                DurationFlag{"--event-wait-timeout", wait, &cfg.event_wait_timeout},
                                DurationFlag{"--rpc-timeout", rpc_timeout, &cfg.rpc_timeout},
                                DurationFlag{"--backoff-max", backoff_max, &cfg.backoff_max}}) {
    // The server's syntax (absl::ParseDuration): a unit is required.
    auto v = base::ParseDuration(d.text);
    if (!v || v->count() <= 0)
      return fail(std::string(d.flag) + ": not a positive duration (e.g. 500ms, 30s, 1m30s): '" + d.text + "'");
    if (*v > std::chrono::hours(7 * 24)) return fail(std::string(d.flag) + ": at most 168h");
    *d.into = *v;
  }
  if (cfg.event_wait_timeout > std::chrono::seconds(10)) return fail("--event-wait-timeout: at most 10s");
  if (lease_duration == "0" || lease_duration == "0s" || lease_duration == "0ms" || lease_duration == "0m" ||
      lease_duration == "0h") {
    cfg.lease_duration = std::chrono::milliseconds(0);
  } else {
    auto duration = base::ParseDuration(lease_duration);
    auto renew = base::ParseDuration(lease_renew);
    if (!duration || duration->count() % 1000 != 0 || *duration < std::chrono::seconds(1) ||
        *duration > std::chrono::hours(1))
      return fail("--lease-duration: whole seconds from 1s to 1h, or 0: '" + lease_duration + "'");
    // A renewal may come 10 % late and then wait for the server: at more than half the
    // duration a healthy provider's lease would expire now and then, its GPUs turning Unknown.
    if (!renew || renew->count() <= 0 || *renew * 2 > *duration)
      return fail("--lease-renew-period: a positive duration at most half of --lease-duration: '" +
                  lease_renew + "'");
    cfg.lease_duration = *duration;
    cfg.lease_renew_period = *renew;
  }
  std::string err;
  if (!XidPolicyConfig::ParseXidList(ignore, &cfg.xids.ignore, &err)) return fail("--ignore-xids: " + err);
  if (!XidPolicyConfig::ParseXidList(fatal, &cfg.xids.fatal, &err)) return fail("--fatal-xids: " + err);
  cfg.xids.ApplyDevicePluginEnv(envor("DP_DISABLE_HEALTHCHECKS", ""), envor("DP_ENABLE_HEALTHCHECKS", ""),
                                &out.warnings);
  cfg.xids.use_default_ignores = !no_default_ignores;
  if (!base::ParseLogLevel(level))
    return fail("--log-level: one of trace, debug, info, warn, error");
  // Checked here, not first in Start: a typo is a usage error (2), not a
  // failure to start after NVML was loaded (1).
  if (base::TcpAddress parsed; !admin.empty() && !base::ParseTcpAddress(admin, &parsed, &err)) {
    return fail("--admin-address '" + admin + "': " + err);
  }
  cfg.server = server;
  cfg.driver_root = driver_root.empty() ? "/" : driver_root;
  cfg.admin_address = admin;
  cfg.admin_max_connections = admin_max;
  cfg.admin_max_connections_per_peer = admin_max_peer;
  cfg.namespace_name = ns;
  cfg.provider_name = name;
  cfg.log_level = level;
  cfg.lease_name = lease_name;
  cfg.lease_holder = lease_holder;
  cfg.deep_bind = !no_deep_bind;
  out.config = cfg;
  return out;
}

}  // namespace deviceapi::nvml
