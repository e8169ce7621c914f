// RawFlags -> Config: defaults, each rule and its one-line message.
#include "server/config_builder.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <tuple>
#include <vector>

namespace deviceapi::server {
namespace {

std::string ErrorFor(const RawFlags& raw) {
  Config config;
  std::string error;
  EXPECT_FALSE(BuildConfig(raw, &config, &error));
  return error;
}

TEST(BuildConfig, DefaultsAreValid) {
  RawFlags raw;
  Config c;
  std::string error;
  ASSERT_TRUE(BuildConfig(raw, &c, &error)) << error;
  EXPECT_EQ(c.api_socket.path, "/var/run/nvidia-device-api/device-api.sock");
  ASSERT_TRUE(c.health_probe);
  EXPECT_EQ(c.health_probe->port, 50051);
  ASSERT_TRUE(c.metrics);
  EXPECT_EQ(c.metrics->port, 9090);
  EXPECT_FALSE(c.api_tcp);
  EXPECT_EQ(c.shutdown_grace_period, std::chrono::seconds(25));
  EXPECT_EQ(c.max_objects, 4096u);
  EXPECT_EQ(c.max_conditions, 32u);
  EXPECT_EQ(c.max_watchers, 1024u);
  EXPECT_EQ(c.max_recv_msg_size, 4u << 20);
  EXPECT_EQ(c.max_send_msg_size, 16u << 20);
  EXPECT_EQ(c.history_max_events, 10000u);
  EXPECT_EQ(c.history_max_bytes, 16u << 20);
  EXPECT_EQ(c.bookmark_interval, std::chrono::seconds(60));
  EXPECT_EQ(c.readiness_min_gpus, 0u);
  EXPECT_EQ(c.log_format, LogFormat::kJson);
  EXPECT_FALSE(c.hostname.empty());
  EXPECT_FALSE(c.tls.enabled());
  EXPECT_EQ(c.storage_type, StorageType::kSqlite);  // durable by default (S24)
  EXPECT_EQ(c.storage_path, "/var/lib/nvidia-device-api/state.db");
  EXPECT_FALSE(c.storage_full_sync);
}

TEST(BuildConfig, StorageFlags) {
  RawFlags raw;
  raw.storage_endpoint = "sqlite:///tmp/x/state.db";
  raw.storage_sync = "full";
  Config c;
  std::string error;
  ASSERT_TRUE(BuildConfig(raw, &c, &error)) << error;
  EXPECT_EQ(c.storage_path, "/tmp/x/state.db");
  EXPECT_TRUE(c.storage_full_sync);
  raw = RawFlags{};
  raw.storage_type = "memory";
  raw.storage_endpoint = "anything";  // not used by memory
  ASSERT_TRUE(BuildConfig(raw, &c, &error)) << error;
  EXPECT_EQ(c.storage_type, StorageType::kMemory);
  for (auto [field, value, message] : std::vector<std::tuple<std::string RawFlags::*, std::string, std::string>>{
           {&RawFlags::storage_type, "etcd", "--storage-type \"etcd\": must be sqlite or memory"},
           {&RawFlags::storage_sync, "always", "--storage-sync \"always\": must be normal or full"},
           {&RawFlags::storage_endpoint, "/var/lib/x.db", "--storage-endpoint \"/var/lib/x.db\": must be sqlite:///path/to/file.db"},
           {&RawFlags::storage_endpoint, "sqlite:///var/lib/", "names a directory"},
           // S26: SQLite reads "file:..." as a URI and would open another file than the one
           // locked against a second server (or none, with ?nolock=1).
           {&RawFlags::storage_endpoint, "sqlite://file:state.db", "must name an absolute path"},
           {&RawFlags::storage_endpoint, "sqlite://file:///var/lib/x.db?nolock=1", "must name an absolute path"},
           {&RawFlags::storage_endpoint, "sqlite://state.db", "must name an absolute path"}}) {
    RawFlags bad;
    bad.*field = value;
    Config out;
    std::string why;
    EXPECT_FALSE(BuildConfig(bad, &out, &why)) << value;
    EXPECT_NE(why.find(message), std::string::npos) << why;
  }
}

TEST(BuildConfig, MessageQuotesFlagAndValue) {
  RawFlags raw;
  raw.metrics_bind_address = ":99999";
  EXPECT_EQ(ErrorFor(raw), "--metrics-bind-address \":99999\": port out of range");
}

TEST(BuildConfig, EmptyTcpAddressTurnsListenerOff) {
  RawFlags raw;
  raw.health_probe_bind_address = "";
  raw.metrics_bind_address = "";
  Config c;
  std::string error;
  ASSERT_TRUE(BuildConfig(raw, &c, &error)) << error;
  EXPECT_FALSE(c.health_probe);
  EXPECT_FALSE(c.metrics);
}

TEST(BuildConfig, OwnPortCollisions) {
  RawFlags raw;
  raw.metrics_bind_address = ":50051";
  EXPECT_EQ(ErrorFor(raw),
            "--metrics-bind-address \":50051\": port 50051 is already used by --health-probe-bind-address");
  raw = RawFlags{};
  raw.tcp_bind_address = "127.0.0.1:9090";
  EXPECT_NE(ErrorFor(raw).find("already used by --tcp-bind-address"), std::string::npos);
  // Port 0 never collides: each listener gets its own ephemeral port.
  raw = RawFlags{};
  raw.tcp_bind_address = "127.0.0.1:0";
  raw.health_probe_bind_address = ":0";
  raw.metrics_bind_address = ":0";
  Config c;
  std::string error;
  EXPECT_TRUE(BuildConfig(raw, &c, &error)) << error;
}

TEST(BuildConfig, PlaintextTcpOnlyOnLoopback) {
  for (const char* ok : {"127.0.0.1:0", "[::1]:0", "localhost:0", "127.1.2.3:8080"}) {
    RawFlags raw;
    raw.tcp_bind_address = ok;
    Config c;
    std::string error;
    EXPECT_TRUE(BuildConfig(raw, &c, &error)) << ok << ": " << error;
  }
  for (const char* bad : {":0", "0.0.0.0:0", "[::]:0", "10.1.2.3:80", "node.example.com:80"}) {
    RawFlags raw;
    raw.tcp_bind_address = bad;
    EXPECT_NE(ErrorFor(raw).find("loopback"), std::string::npos) << bad;
  }
}

TEST(BuildConfig, TlsPairing) {
  RawFlags raw;
  raw.tcp_bind_address = "0.0.0.0:0";
  raw.tls_cert_file = "/nonexistent/cert.pem";
  EXPECT_EQ(ErrorFor(raw), "--tls-cert-file \"/nonexistent/cert.pem\": needs --tls-key-file");
  raw.tls_key_file = "/nonexistent/key.pem";
  EXPECT_NE(ErrorFor(raw).find("cannot read"), std::string::npos);
  raw = RawFlags{};
  raw.tls_client_ca_file = "/x";
  EXPECT_NE(ErrorFor(raw).find("needs --tls-cert-file"), std::string::npos);
}

TEST(BuildConfig, GarbageTlsFilesAreRefused) {
  char dir[] = "/tmp/das-cfg-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string junk = std::string(dir) + "/junk.pem";
  std::ofstream(junk) << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  RawFlags raw;
  raw.tcp_bind_address = "127.0.0.1:0";
  raw.tls_cert_file = junk;
  raw.tls_key_file = junk;
  EXPECT_NE(ErrorFor(raw).find("no PEM certificate"), std::string::npos);
  std::remove(junk.c_str());
  rmdir(dir);
}

TEST(BuildConfig, RangesAndUnits) {
  struct Case { std::string RawFlags::*field; std::string value; std::string expect; };
  const Case cases[] = {
      {&RawFlags::shutdown_grace_period, "0s", "must be between"},
      {&RawFlags::shutdown_grace_period, "2h", "must be between"},
      {&RawFlags::shutdown_grace_period, "25", "not a duration"},
      {&RawFlags::max_recv_msg_size, "100", "must be between 1024"},
      {&RawFlags::max_recv_msg_size, "2Gi", "must be between"},
      {&RawFlags::max_send_msg_size, "lots", "not a size"},
      {&RawFlags::max_objects, "0", "must be between"},
      {&RawFlags::max_objects, "-3", "not a whole number"},
      {&RawFlags::max_objects, "99999999999999999999999", "not a whole number"},
      {&RawFlags::max_streams_per_connection, "0", "must be between"},
      {&RawFlags::grpc_keepalive_time, "10ms", "must be between 1s"},
      {&RawFlags::watch_queue_size, "", "not a whole number"},
      {&RawFlags::log_format, "JSON", "must be json or text"},
      {&RawFlags::verbosity, "11", "must be between 0 and 10"},
      {&RawFlags::bind_address, "unix-abstract:x", "abstract"},
      {&RawFlags::bind_address, ":8080", "must be a Unix socket"},
      {&RawFlags::socket_group, "no-such-group-zz", "no such group"},
  };
  for (const auto& c : cases) {
    RawFlags raw;
    raw.*(c.field) = c.value;
    std::string error = ErrorFor(raw);
    EXPECT_NE(error.find(c.expect), std::string::npos) << c.value << " -> " << error;
    EXPECT_NE(error.find("\"" + c.value + "\""), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos);
  }
}

TEST(BuildConfig, SocketGroupByNumberAndName) {
  RawFlags raw;
  raw.socket_group = std::to_string(getgid());
  Config c;
  std::string error;
  ASSERT_TRUE(BuildConfig(raw, &c, &error)) << error;
  EXPECT_EQ(c.socket_gid, getgid());
  raw.socket_group = "root";  // gid 0 exists on every Linux system
  ASSERT_TRUE(BuildConfig(raw, &c, &error)) << error;
  EXPECT_EQ(c.socket_gid, 0u);
}

TEST(BuildConfig, HostnameOverride) {
  RawFlags raw;
  raw.hostname_override = "node-7";
  Config c;
  std::string error;
  ASSERT_TRUE(BuildConfig(raw, &c, &error));
  EXPECT_EQ(c.hostname, "node-7");
}

}  // namespace
}  // namespace deviceapi::server
