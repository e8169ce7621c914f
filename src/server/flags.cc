#include "server/flags.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <vector>
#include <nlohmann/json.hpp>

#include "base/command_line.h"
#include "server/config_builder.h"
#include "server/server_metrics.h"

namespace deviceapi::server {

using base::BuildInfo;

// The same document /version serves on the admin port.
std::string VersionJson() { return BuildInfo::Current().ToJson(); }

FlagsOutcome ParseFlags(int argc, const char* const* argv) {
  FlagsOutcome outcome;
  RawFlags raw;
  bool version = false;

  CLI::App app{
      "Node-local GPU device API server: serves nvidia.nvsentinel.v1alpha1.GpuService over a "
      "Unix socket (and optionally TCP), gRPC health on the probe port, Prometheus metrics and "
      "/readyz on the metrics port.\n"
      "Every flag can also be set through the environment variable shown as (Env:...); a flag "
      "given on the command line wins over its variable.\n"
      "Durations: 500ms, 25s, 1m30s. Sizes: 1048576, 4Mi, 16MiB, 512Ki.",
      "device-api-server"};
  // A flag given twice takes its last value, as Go's flag package does.
  app.option_defaults()->always_capture_default()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);

  // Adds "--name" bound to `target`, with its DEVICE_API_* variable.
  auto opt = [&](const std::string& name, std::string& target, const std::string& help,
                 std::string env = "") {
    if (env.empty()) {
      env = "DEVICE_API_" + name.substr(2);
      for (auto& ch : env) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
    }
    return app.add_option(name, target, help)->envname(env)->type_name("TEXT");
  };

  opt("--bind-address", raw.bind_address,
      "Unix socket for the API: unix:///path (abstract sockets are refused)");
  opt("--tcp-bind-address", raw.tcp_bind_address,
      "Optional TCP listener for the API (host:port). Plaintext or server-only TLS only on "
      "loopback; elsewhere needs mTLS (--tls-cert-file, --tls-key-file, --tls-client-ca-file). "
      "Empty or 0: off");
  opt("--health-probe-bind-address", raw.health_probe_bind_address,
      "gRPC listener carrying only grpc.health.v1 (for kubelet gRPC probes). Empty or 0: off");
  opt("--metrics-bind-address", raw.metrics_bind_address,
      "HTTP listener for /metrics, /healthz, /readyz, /version. Empty or 0: off");
  opt("--shutdown-grace-period", raw.shutdown_grace_period,
      "Time allowed for in-flight calls to finish after SIGTERM/SIGINT");
  opt("--hostname-override", raw.hostname_override,
      "Node name for the start log line (default: the host name); metrics carry no node label: "
      "Prometheus adds it",
      "NODE_NAME");
  app.add_option("-v,--v", raw.verbosity, "Log verbosity (0-10)")
      ->envname("DEVICE_API_VERBOSITY")
      ->type_name("INT");
  opt("--log-format", raw.log_format, "Log format: json or text", "LOG_FORMAT");
  opt("--readiness-min-gpus", raw.readiness_min_gpus,
      "GPUs that must be registered before reads are served (S21)");
  opt("--readiness-grace-period", raw.readiness_grace_period,
      "Become ready after this long even with fewer GPUs (0: only the GPU count decides)");
  opt("--max-objects", raw.max_objects, "Maximum objects in the store");
  opt("--max-total-object-bytes", raw.max_total_object_bytes,
      "Memory all stored objects may take together (writes that would grow past it are refused)");
  opt("--max-conditions", raw.max_conditions, "Maximum conditions per object");
  opt("--max-watchers", raw.max_watchers, "Maximum concurrent watch streams, GPUs and leases each");
  opt("--max-label-selector-bytes", raw.max_label_selector_bytes,
      "Longest label selector accepted by List and Watch");
  opt("--max-label-selector-requirements", raw.max_label_selector_requirements,
      "Most comma-separated requirements in one label selector");
  opt("--max-waiting-reads", raw.max_waiting_reads,
      "Maximum Gets, Lists and Watches waiting at once for a resource version not reached yet");
  opt("--max-recv-msg-size", raw.max_recv_msg_size, "Largest request message accepted");
  opt("--max-send-msg-size", raw.max_send_msg_size, "Largest response message sent");
  opt("--max-streams-per-connection", raw.max_streams_per_connection,
      "Concurrent HTTP/2 streams per client connection");
  opt("--grpc-keepalive-time", raw.grpc_keepalive_time,
      "Ping an idle client connection after this long");
  opt("--grpc-keepalive-timeout", raw.grpc_keepalive_timeout,
      "Close a connection whose keepalive ping is not answered within this");
  opt("--grpc-keepalive-min-time", raw.grpc_keepalive_min_time,
      "Clients pinging more often than this are disconnected (keepalive enforcement)");
  opt("--history-max-events", raw.history_max_events,
      "Events kept for watches resuming from a resource version");
  opt("--history-max-bytes", raw.history_max_bytes, "Bytes of event history kept");
  opt("--bookmark-interval", raw.bookmark_interval, "Interval of BOOKMARK events on idle watches");
  opt("--watch-queue-size", raw.watch_queue_size,
      "Events queued per watcher before it is ended as too slow");
  opt("--heap-release-interval", raw.heap_release_interval,
      "How often free heap memory is returned to the kernel (0: never)");
  opt("--storage-type", raw.storage_type,
      "Where the state lives: sqlite (a database file; survives restarts) or memory (lost on exit; for tests)");
  opt("--storage-endpoint", raw.storage_endpoint,
      "The sqlite database file, an absolute path: sqlite:///path/to/state.db (the leases go next to it, in "
      "state-leases.db)");
  opt("--storage-sync", raw.storage_sync,
      "normal: a committed write survives a process crash; full: also a power cut (slower)");
  opt("--admin-max-connections", raw.admin_max_connections,
      "Open connections on the metrics/admin HTTP port; beyond it the longest-waiting one is closed");
  opt("--admin-max-connections-per-peer", raw.admin_max_connections_per_peer,
      "Open admin HTTP connections from one IP address; beyond it that peer's longest-waiting one is closed");
  opt("--max-connections", raw.max_connections,
      "Open connections to the API socket (and to the TCP listener); beyond it a new connection is closed at once");
  opt("--probe-max-connections", raw.probe_max_connections,
      "Open connections on the health-probe port; beyond it the oldest one is closed");
  opt("--probe-max-connections-per-peer", raw.probe_max_connections_per_peer,
      "Open health-probe connections from one IP address; beyond it that peer's oldest one is closed");
  opt("--socket-group", raw.socket_group,
      "Group (name or gid) owning the API socket; the socket is mode 0660");
  opt("--tls-cert-file", raw.tls_cert_file, "PEM certificate for the TCP API listener");
  opt("--tls-key-file", raw.tls_key_file, "PEM private key for the TCP API listener");
  opt("--tls-client-ca-file", raw.tls_client_ca_file,
      "PEM CA bundle: require and verify client certificates on the TCP listener (mTLS)");
  app.add_flag("--version", version, "Print version information as JSON and exit");

  std::vector<std::string> args = base::CommandLineArgs(argc, argv);
  // klog's "-v=4" spelling: CLI11 short options take "-v 4" or "-v4" only.
  for (auto& a : args) {
    if (a.rfind("-v=", 0) == 0) a = "--v=" + a.substr(3);
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    outcome.output = app.help();
    outcome.exit_code = 0;
    return outcome;
  } catch (const CLI::ParseError& e) {
    outcome.error = e.what();
    outcome.exit_code = kExitUsage;
    return outcome;
  }
  if (version) {
    outcome.output = VersionJson() + "\n";
    outcome.exit_code = 0;
    return outcome;
  }
  std::string error;
  if (!BuildConfig(raw, &outcome.config, &error)) {
    outcome.error = error;
    outcome.exit_code = kExitUsage;
    return outcome;
  }
  outcome.run = true;
  return outcome;
}

}  // namespace deviceapi::server
