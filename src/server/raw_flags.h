// Flag values exactly as given (command line or environment), before
// validation. Kept as text so that each error can quote what the operator typed.
#pragma once

#include <string>

namespace deviceapi::server {

struct RawFlags {
  std::string bind_address = "unix:///var/run/nvidia-device-api/device-api.sock";
  std::string tcp_bind_address;
  std::string health_probe_bind_address = ":50051";
  std::string metrics_bind_address = ":9090";
  std::string shutdown_grace_period = "25s";
  std::string hostname_override;
  std::string verbosity = "0";
  std::string log_format = "json";
  std::string readiness_min_gpus = "0";
  std::string readiness_grace_period = "0s";
  std::string max_objects = "4096";
  std::string max_total_object_bytes = "128Mi";
  std::string max_conditions = "32";
  std::string max_watchers = "1024";
  std::string max_label_selector_bytes = "4Ki";
  std::string max_label_selector_requirements = "64";
  std::string max_waiting_reads = "1024";
  std::string max_recv_msg_size = "4Mi";
  std::string max_send_msg_size = "16Mi";
  std::string max_streams_per_connection = "250";
  std::string grpc_keepalive_time = "60s";
  std::string grpc_keepalive_timeout = "20s";
  std::string grpc_keepalive_min_time = "10s";
  std::string history_max_events = "10000";
  std::string history_max_bytes = "16Mi";
  std::string bookmark_interval = "60s";
  std::string watch_queue_size = "1024";
  std::string heap_release_interval = "2s";
  std::string admin_max_connections = "256";
  std::string admin_max_connections_per_peer = "32";
  std::string max_connections = "256";
  std::string probe_max_connections = "32";
  std::string probe_max_connections_per_peer = "8";
  std::string storage_type = "sqlite";
  std::string storage_endpoint = "sqlite:///var/lib/nvidia-device-api/state.db";
  std::string storage_sync = "normal";
  std::string socket_group;
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
};

}  // namespace deviceapi::server
