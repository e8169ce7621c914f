// The server's effective configuration: what flags and environment produced,
// after validation. Everything here has been checked; the process can start
// from it without further parsing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/listen_address.h"

namespace deviceapi::server {

enum class LogFormat { kJson, kText };

// Where the store keeps its state (--storage-type).
enum class StorageType { kSqlite, kMemory };

// A year: "no grace period", short enough not to overflow nanosecond clocks.
inline constexpr std::chrono::milliseconds kNoReadinessGrace{365LL * 24 * 3600 * 1000};

struct TlsConfig {
  std::string cert_file, key_file, client_ca_file;  // client_ca_file: "" = no mTLS
  // Contents read at start-up, so a later unreadable file cannot break a restart
  // half-way and errors surface as exit 2 with the file name.
  std::string cert_pem, key_pem, client_ca_pem;
  bool enabled() const { return !cert_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }
};

struct Config {
  base::UnixAddress api_socket;                  // --bind-address
  std::optional<base::TcpAddress> api_tcp;       // --tcp-bind-address ("" = off)
  std::optional<base::TcpAddress> health_probe;  // --health-probe-bind-address ("" = off)
  std::optional<base::TcpAddress> metrics;       // --metrics-bind-address ("" = off)
  std::optional<gid_t> socket_gid;         // --socket-group resolved
  std::string socket_group;                // as given, for logs
  TlsConfig tls;

  std::chrono::milliseconds shutdown_grace_period{25000};
  std::string hostname;
  int verbosity = 0;
  LogFormat log_format = LogFormat::kJson;

  std::size_t readiness_min_gpus = 0;
  // kNoReadinessGrace when --readiness-grace-period is 0 and GPUs are required.
  std::chrono::milliseconds readiness_grace_period{0};

  std::size_t max_objects = 4096;
  std::size_t max_total_object_bytes = 128u << 20;  // S33
  std::size_t max_conditions = 32;
  std::size_t max_watchers = 1024;
  std::size_t max_label_selector_bytes = 4096;      // S33
  std::size_t max_label_selector_requirements = 64;
  // Reads and watches waiting for a future revision at once (S9, S32).
  std::size_t max_waiting_reads = 1024;
  std::size_t max_recv_msg_size = 4u << 20;
  std::size_t max_send_msg_size = 16u << 20;
  std::size_t max_streams_per_connection = 250;
  std::chrono::milliseconds grpc_keepalive_time{60000};
  std::chrono::milliseconds grpc_keepalive_timeout{20000};
  // Clients may ping no more often than this (keepalive enforcement).
  std::chrono::milliseconds grpc_keepalive_min_time{10000};
  std::size_t history_max_events = 10000;
  std::size_t history_max_bytes = 16u << 20;
  std::chrono::milliseconds bookmark_interval{60000};
  std::size_t watch_queue_size = 1024;
  StorageType storage_type = StorageType::kSqlite;  // --storage-type
  std::string storage_endpoint = "sqlite:///var/lib/nvidia-device-api/state.db";  // as given
  std::string storage_path = "/var/lib/nvidia-device-api/state.db";  // its database file
  bool storage_full_sync = false;  // --storage-sync=full
  // How often free heap memory is handed back to the kernel (0: never).
  std::chrono::milliseconds heap_release_interval{2000};
  // Open connections on the admin HTTP port, in all and from one IP address
  // (base/http_server.h: the longest-waiting one makes room for a new one).
  std::size_t admin_max_connections = 256;
  std::size_t admin_max_connections_per_peer = 32;
  // Open connections to the API (Unix socket and TCP listener,
  // each): beyond it a new connection is closed at once, so open ones (a
  // consumer's watches) are never pushed out (guarded_listener.h).
  std::size_t max_connections = 256;
  // Open connections on the health-probe port, in all and from one IP
  // address (guarded_listener.h: the oldest one makes room for a new one).
  std::size_t probe_max_connections = 32;
  std::size_t probe_max_connections_per_peer = 8;
};

// The effective configuration as JSON (listeners, limits; never key material)
// for the start-up log line.
nlohmann::json ConfigToJson(const Config& config);

}  // namespace deviceapi::server
