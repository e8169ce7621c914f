#include "server/config_builder.h"

#include <grp.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "server/pem_check.h"
#include "base/units.h"

namespace deviceapi::server {

using base::FormatDuration;
using base::ListenAddress;
using base::ParseDuration;
using base::ParseListenAddress;
using base::ParseSize;
using base::ParseTcpAddress;
using base::TcpAddress;
using base::UnixAddress;
namespace {

// Collects the first error only: start-up reports exactly one line.
class Checker {
 public:
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  void Fail(std::string_view flag, std::string_view value, std::string_view reason) {
    if (!ok()) return;
    error_ = std::string(flag) + " \"" + std::string(value) + "\": " + std::string(reason);
  }

  void Count(std::string_view flag, const std::string& text, std::size_t* out, std::uint64_t min,
             std::uint64_t max) {
    if (!ok()) return;
    if (text.empty() || text.size() > 19) return Fail(flag, text, "not a whole number");
    std::uint64_t v = 0;
    for (char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return Fail(flag, text, "not a whole number");
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v < min || v > max) {
      return Fail(flag, text,
                  "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    *out = static_cast<std::size_t>(v);
  }

  void Size(std::string_view flag, const std::string& text, std::size_t* out, std::uint64_t min,
            std::uint64_t max) {
    if (!ok()) return;
    auto v = ParseSize(text);
    if (!v) return Fail(flag, text, "not a size (e.g. 4Mi, 16MiB, 1048576)");
    if (*v < min || *v > max) {
      return Fail(flag, text,
                  "must be between " + std::to_string(min) + " and " + std::to_string(max) + " bytes");
    }
    *out = static_cast<std::size_t>(*v);
  }

  void Duration(std::string_view flag, const std::string& text, std::chrono::milliseconds* out,
                std::chrono::milliseconds min, std::chrono::milliseconds max) {
    if (!ok()) return;
    auto v = ParseDuration(text);
    if (!v) return Fail(flag, text, "not a duration (e.g. 500ms, 25s, 1m)");
    if (*v < min || *v > max) {
      return Fail(flag, text, "must be between " + FormatDuration(min) + " and " + FormatDuration(max));
    }
    *out = *v;
  }

  void Tcp(std::string_view flag, const std::string& text, std::optional<TcpAddress>* out) {
    if (!ok() || text.empty() || text == "0") return;  // listener off
    TcpAddress addr;
    std::string why;
    if (!ParseTcpAddress(text, &addr, &why)) return Fail(flag, text, why);
    *out = addr;
  }

  // Reads `path` into `out`, then runs `check` on the contents ("" = fine).
  void ReadFile(std::string_view flag, const std::string& path, std::string* out,
                std::string (*check)(const std::string&)) {
    if (!ok() || path.empty()) return;
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(flag, path, std::string("cannot read: ") + std::strerror(errno));
    std::ostringstream buf;
    buf << in.rdbuf();
    *out = buf.str();
    if (std::string why = check(*out); !why.empty()) return Fail(flag, path, why);
  }

 private:
  std::string error_;
};

std::optional<gid_t> ResolveGroup(const std::string& group) {
  bool numeric = !group.empty() && group.size() <= 10;
  for (char c : group) numeric = numeric && std::isdigit(static_cast<unsigned char>(c));
  if (numeric) {
    auto v = std::stoull(group);
    if (v < std::numeric_limits<gid_t>::max()) return static_cast<gid_t>(v);
    return std::nullopt;
  }
  std::vector<char> buf(16384);
  struct group entry {};
  struct group* found = nullptr;
  int rc;
  while ((rc = getgrnam_r(group.c_str(), &entry, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 4);
  }
  if (rc != 0 || found == nullptr) return std::nullopt;
  return found->gr_gid;
}

std::string DefaultHostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

bool BuildConfig(const RawFlags& raw, Config* config, std::string* error) {
  using std::chrono::milliseconds;
  using namespace std::chrono_literals;
  Checker c;
  Config& cfg = *config;

  {
    ListenAddress addr;
    std::string why;
    if (!ParseListenAddress(raw.bind_address, &addr, &why)) {
      c.Fail("--bind-address", raw.bind_address, why);
    } else if (!std::holds_alternative<UnixAddress>(addr)) {
      c.Fail("--bind-address", raw.bind_address,
             "must be a Unix socket (unix:///path); use --tcp-bind-address for TCP");
    } else {
      cfg.api_socket = std::get<UnixAddress>(addr);
    }
  }
  c.Tcp("--tcp-bind-address", raw.tcp_bind_address, &cfg.api_tcp);
  c.Tcp("--health-probe-bind-address", raw.health_probe_bind_address, &cfg.health_probe);
  c.Tcp("--metrics-bind-address", raw.metrics_bind_address, &cfg.metrics);

  // Two of our own listeners on one port would fail at bind time with a less
  // helpful message; a wildcard and a specific host collide on Linux as well.
  if (c.ok()) {
    struct Named { const char* flag; const std::string* text; const std::optional<TcpAddress>* addr; };
    const Named all[] = {
        {"--tcp-bind-address", &raw.tcp_bind_address, &cfg.api_tcp},
        {"--health-probe-bind-address", &raw.health_probe_bind_address, &cfg.health_probe},
        {"--metrics-bind-address", &raw.metrics_bind_address, &cfg.metrics},
    };
    for (std::size_t i = 0; i < std::size(all); ++i) {
      for (std::size_t j = i + 1; j < std::size(all); ++j) {
        const auto& a = *all[i].addr;
        const auto& b = *all[j].addr;
        if (a && b && a->port != 0 && a->port == b->port) {
          c.Fail(all[j].flag, *all[j].text,
                 "port " + std::to_string(b->port) + " is already used by " + all[i].flag);
        }
      }
    }
  }

  c.Duration("--shutdown-grace-period", raw.shutdown_grace_period, &cfg.shutdown_grace_period, 1ms,
             milliseconds(3600'000));
  {
    std::size_t v = 0;
    c.Count("-v", raw.verbosity, &v, 0, 10);
    cfg.verbosity = static_cast<int>(v);
  }
  if (c.ok()) {
    if (raw.log_format == "json") cfg.log_format = LogFormat::kJson;
    else if (raw.log_format == "text") cfg.log_format = LogFormat::kText;
    else c.Fail("--log-format", raw.log_format, "must be json or text");
  }
  c.Count("--readiness-min-gpus", raw.readiness_min_gpus, &cfg.readiness_min_gpus, 0, 1u << 20);
  c.Duration("--readiness-grace-period", raw.readiness_grace_period, &cfg.readiness_grace_period,
             0ms, milliseconds(24 * 3600'000));
  // 0 means no grace period: only --readiness-min-gpus opens the gate (S21).
  // Readiness counts an elapsed grace period as ready, so 0 becomes "never".
  if (c.ok() && cfg.readiness_grace_period.count() == 0 && cfg.readiness_min_gpus > 0) {
    cfg.readiness_grace_period = kNoReadinessGrace;
  }
  c.Count("--max-objects", raw.max_objects, &cfg.max_objects, 1, 1u << 24);
  c.Size("--max-total-object-bytes", raw.max_total_object_bytes, &cfg.max_total_object_bytes, 1u << 20,
         std::uint64_t{1} << 40);
  c.Count("--max-conditions", raw.max_conditions, &cfg.max_conditions, 1, 4096);
  c.Count("--max-watchers", raw.max_watchers, &cfg.max_watchers, 1, 1u << 20);
  c.Size("--max-label-selector-bytes", raw.max_label_selector_bytes, &cfg.max_label_selector_bytes, 64,
         1u << 20);
  c.Count("--max-label-selector-requirements", raw.max_label_selector_requirements,
          &cfg.max_label_selector_requirements, 1, 4096);
  c.Count("--max-waiting-reads", raw.max_waiting_reads, &cfg.max_waiting_reads, 1, 1u << 20);
  // gRPC takes message sizes as int.
  c.Size("--max-recv-msg-size", raw.max_recv_msg_size, &cfg.max_recv_msg_size, 1024,
         std::numeric_limits<int>::max());
  c.Size("--max-send-msg-size", raw.max_send_msg_size, &cfg.max_send_msg_size, 1024,
         std::numeric_limits<int>::max());
  c.Count("--max-streams-per-connection", raw.max_streams_per_connection,
          &cfg.max_streams_per_connection, 1, std::numeric_limits<int>::max());
  c.Duration("--grpc-keepalive-time", raw.grpc_keepalive_time, &cfg.grpc_keepalive_time, 1s,
             milliseconds(24 * 3600'000));
  c.Duration("--grpc-keepalive-timeout", raw.grpc_keepalive_timeout, &cfg.grpc_keepalive_timeout,
             1ms, milliseconds(3600'000));
  c.Duration("--grpc-keepalive-min-time", raw.grpc_keepalive_min_time,
             &cfg.grpc_keepalive_min_time, 0ms, milliseconds(24 * 3600'000));
  c.Count("--history-max-events", raw.history_max_events, &cfg.history_max_events, 1, 1u << 24);
  c.Size("--history-max-bytes", raw.history_max_bytes, &cfg.history_max_bytes, 1024,
         std::uint64_t{1} << 34);
  c.Duration("--bookmark-interval", raw.bookmark_interval, &cfg.bookmark_interval, 1ms,
             milliseconds(24 * 3600'000));
  c.Count("--watch-queue-size", raw.watch_queue_size, &cfg.watch_queue_size, 1, 1u << 20);
  c.Count("--admin-max-connections", raw.admin_max_connections, &cfg.admin_max_connections, 1, 1u << 16);
  c.Count("--admin-max-connections-per-peer", raw.admin_max_connections_per_peer,
          &cfg.admin_max_connections_per_peer, 1, 1u << 16);
  c.Count("--max-connections", raw.max_connections, &cfg.max_connections, 1, 1u << 16);
  c.Count("--probe-max-connections", raw.probe_max_connections, &cfg.probe_max_connections, 1, 1u << 12);
  c.Count("--probe-max-connections-per-peer", raw.probe_max_connections_per_peer,
          &cfg.probe_max_connections_per_peer, 1, 1u << 12);
  c.Duration("--heap-release-interval", raw.heap_release_interval, &cfg.heap_release_interval, 0ms,
             milliseconds(24 * 3600'000));

  if (c.ok()) {
    if (raw.storage_type == "sqlite") cfg.storage_type = StorageType::kSqlite;
    else if (raw.storage_type == "memory") cfg.storage_type = StorageType::kMemory;
    else c.Fail("--storage-type", raw.storage_type, "must be sqlite or memory");
  }
  if (c.ok()) {
    if (raw.storage_sync == "normal") cfg.storage_full_sync = false;
    else if (raw.storage_sync == "full") cfg.storage_full_sync = true;
    else c.Fail("--storage-sync", raw.storage_sync, "must be normal or full");
  }
  cfg.storage_endpoint = raw.storage_endpoint;
  if (c.ok() && cfg.storage_type == StorageType::kSqlite) {
    constexpr std::string_view kScheme = "sqlite://";
    if (raw.storage_endpoint.rfind(kScheme, 0) != 0 || raw.storage_endpoint.size() == kScheme.size()) {
      c.Fail("--storage-endpoint", raw.storage_endpoint, "must be sqlite:///path/to/file.db");
    } else {
      cfg.storage_path = raw.storage_endpoint.substr(kScheme.size());
      if (cfg.storage_path.front() != '/') {
        // Also what keeps SQLite from reading the path as a URI ("file:state.db?nolock=1"),
        // which would open a file other than the one locked against a second server.
        c.Fail("--storage-endpoint", raw.storage_endpoint,
               "must name an absolute path: sqlite:///path/to/file.db");
      } else if (cfg.storage_path.back() == '/') {
        c.Fail("--storage-endpoint", raw.storage_endpoint, "names a directory, not a database file");
      }
    }
  }

  if (c.ok() && !raw.socket_group.empty()) {
    cfg.socket_group = raw.socket_group;
    cfg.socket_gid = ResolveGroup(raw.socket_group);
    if (!cfg.socket_gid) c.Fail("--socket-group", raw.socket_group, "no such group");
  }

  cfg.tls.cert_file = raw.tls_cert_file;
  cfg.tls.key_file = raw.tls_key_file;
  cfg.tls.client_ca_file = raw.tls_client_ca_file;
  if (c.ok()) {
    if (raw.tls_cert_file.empty() != raw.tls_key_file.empty()) {
      if (raw.tls_cert_file.empty()) c.Fail("--tls-key-file", raw.tls_key_file, "needs --tls-cert-file");
      else c.Fail("--tls-cert-file", raw.tls_cert_file, "needs --tls-key-file");
    } else if (!raw.tls_client_ca_file.empty() && raw.tls_cert_file.empty()) {
      c.Fail("--tls-client-ca-file", raw.tls_client_ca_file,
             "needs --tls-cert-file and --tls-key-file");
    } else if (!raw.tls_cert_file.empty() && !cfg.api_tcp) {
      c.Fail("--tls-cert-file", raw.tls_cert_file, "TLS applies to --tcp-bind-address, which is not set");
    }
  }
  c.ReadFile("--tls-cert-file", raw.tls_cert_file, &cfg.tls.cert_pem, CheckCertificatesPem);
  c.ReadFile("--tls-key-file", raw.tls_key_file, &cfg.tls.key_pem, CheckPrivateKeyPem);
  c.ReadFile("--tls-client-ca-file", raw.tls_client_ca_file, &cfg.tls.client_ca_pem,
             CheckCertificatesPem);
  if (c.ok() && cfg.tls.enabled()) {
    if (std::string why = CheckKeyMatchesCertificate(cfg.tls.cert_pem, cfg.tls.key_pem); !why.empty()) {
      c.Fail("--tls-key-file", raw.tls_key_file, why);
    }
  }
  // The API has no authentication of its own; client certificates are the
  // only one it has (S35). Off loopback, plaintext and server-only TLS would
  // let anyone who reaches the port create and delete GPUs.
  if (c.ok() && cfg.api_tcp && !cfg.api_tcp->IsLoopback() && !cfg.tls.mutual()) {
    c.Fail("--tcp-bind-address", raw.tcp_bind_address,
           cfg.tls.enabled()
               ? "server-only TLS off loopback authenticates no client; set --tls-client-ca-file "
                 "(mTLS) or bind a loopback address (127.0.0.1, ::1, localhost)"
               : "plaintext TCP must bind a loopback address (127.0.0.1, ::1, localhost); "
                 "elsewhere set --tls-cert-file, --tls-key-file and --tls-client-ca-file (mTLS)");
  }

  if (c.ok()) {
    cfg.hostname = raw.hostname_override.empty() ? DefaultHostname() : raw.hostname_override;
  }
  if (!c.ok()) *error = c.error();
  return c.ok();
}

nlohmann::json ConfigToJson(const Config& cfg) {
  auto tcp = [](const std::optional<TcpAddress>& a) -> nlohmann::json {
    return a ? nlohmann::json(a->ToString()) : nlohmann::json(nullptr);
  };
  return nlohmann::json{
      {"bind_address", "unix://" + cfg.api_socket.path},
      {"tcp_bind_address", tcp(cfg.api_tcp)},
      {"health_probe_bind_address", tcp(cfg.health_probe)},
      {"metrics_bind_address", tcp(cfg.metrics)},
      {"socket_group", cfg.socket_group},
      {"tls", cfg.tls.enabled() ? (cfg.tls.mutual() ? "mtls" : "tls") : "off"},
      {"hostname", cfg.hostname},
      {"shutdown_grace_period", FormatDuration(cfg.shutdown_grace_period)},
      {"readiness_min_gpus", cfg.readiness_min_gpus},
      {"readiness_grace_period", cfg.readiness_grace_period == kNoReadinessGrace
                                     ? std::string("none")
                                     : FormatDuration(cfg.readiness_grace_period)},
      {"max_objects", cfg.max_objects},
      {"max_total_object_bytes", cfg.max_total_object_bytes},
      {"max_conditions", cfg.max_conditions},
      {"max_watchers", cfg.max_watchers},
      {"max_label_selector_bytes", cfg.max_label_selector_bytes},
      {"max_label_selector_requirements", cfg.max_label_selector_requirements},
      {"max_waiting_reads", cfg.max_waiting_reads},
      {"max_recv_msg_size", cfg.max_recv_msg_size},
      {"max_send_msg_size", cfg.max_send_msg_size},
      {"max_streams_per_connection", cfg.max_streams_per_connection},
      {"grpc_keepalive_time", FormatDuration(cfg.grpc_keepalive_time)},
      {"grpc_keepalive_timeout", FormatDuration(cfg.grpc_keepalive_timeout)},
      {"grpc_keepalive_min_time", FormatDuration(cfg.grpc_keepalive_min_time)},
      {"history_max_events", cfg.history_max_events},
      {"history_max_bytes", cfg.history_max_bytes},
      {"bookmark_interval", FormatDuration(cfg.bookmark_interval)},
      {"watch_queue_size", cfg.watch_queue_size},
      {"admin_max_connections", cfg.admin_max_connections},
      {"admin_max_connections_per_peer", cfg.admin_max_connections_per_peer},
      {"max_connections", cfg.max_connections},
      {"probe_max_connections", cfg.probe_max_connections},
      {"probe_max_connections_per_peer", cfg.probe_max_connections_per_peer},
      {"heap_release_interval", FormatDuration(cfg.heap_release_interval)},
      {"storage_type", cfg.storage_type == StorageType::kSqlite ? "sqlite" : "memory"},
      {"storage_endpoint", cfg.storage_type == StorageType::kSqlite ? cfg.storage_endpoint : ""},
      {"storage_sync", cfg.storage_full_sync ? "full" : "normal"},
  };
}

}  // namespace deviceapi::server
