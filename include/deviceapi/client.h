// Client: the typed C++ client of the node-local Device API Server.
//
// Connects by target: ClientOptions::target, else the environment variable
// DEVICE_API_SERVER, else kDefaultServerTarget. Targets are gRPC targets:
// "unix:///path/to.sock", "host:port", "dns:///host:port".
//
// Thread safety: a Client is safe to use from any number of threads at once;
// it holds one gRPC channel that all calls share. Every call has a deadline
// (CallOptions::timeout, else ClientOptions::default_timeout), except Watch,
// which runs until the server ends it, the caller cancels it, its optional
// timeout passes or its connection stops answering keepalive pings
// (ClientOptions::keepalive_time). No call throws; errors are Status values
// carrying the server's code and message (see status.h).
//
// FakeClient (fake_client.h) derives from Client, so code written against
// `Client&` runs unchanged in unit tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "deviceapi/status.h"
#include "deviceapi/types.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace deviceapi {

namespace client_internal {
class CancelScope;
}  // namespace client_internal

class LeaseClient;

// Where the server listens by default on a node.
inline constexpr const char* kDefaultServerTarget =
    "unix:///var/run/nvidia-device-api/device-api.sock";
// The environment variable that overrides the default target.
inline constexpr const char* kServerEnvVar = "DEVICE_API_SERVER";

// TLS for a TCP target; a unix: or unix-abstract: target is always
// plaintext (the server's socket is) and these files are not read for it.
struct TlsOptions {
  bool enabled = false;
  std::string ca_file;      // PEM roots; empty: system roots
  std::string cert_file;    // PEM client certificate (mutual TLS), optional
  std::string key_file;     // PEM client key, with cert_file
  std::string server_name;  // overrides the name checked in the server certificate
};

// The largest response a client accepts by default. gRPC's own default,
// 4 MiB, is less than a List of the largest nodes (1,024 GPUs with 32
// conditions of 200-byte messages: about 7.3 MiB), which would then fail on
// every try; this is four times the server's default --max-send-msg-size.
inline constexpr std::size_t kDefaultMaxReceiveMessageBytes = 64u << 20;

struct ClientOptions {
  // Empty: $DEVICE_API_SERVER, else kDefaultServerTarget.
  std::string target;
  // The largest response accepted (a List, a watch event); larger ones fail
  // with RESOURCE_EXHAUSTED.
  std::size_t max_receive_message_bytes = kDefaultMaxReceiveMessageBytes;
  TlsOptions tls;
  // Deadline of each unary call that does not set its own.
  std::chrono::milliseconds default_timeout{10000};
  // Appended to the gRPC user agent, e.g. "nvml-provider/0.1.0".
  std::string user_agent;
  // Keepalive: a ping every keepalive_time, with or without calls open; a
  // ping not answered within keepalive_timeout closes the connection, which
  // fails its open calls (watches included) with UNAVAILABLE, and the next
  // call connects anew. So a connection that died without being closed (a
  // peer or proxy that stopped forwarding but keeps the socket open) ends a
  // watch instead of stalling it forever. The server closes connections that
  // ping more often than its --grpc-keepalive-min-time (default 10 s), so
  // keepalive_time must not be shorter. 0: no pings. Only the Client built
  // from a target applies these; a channel passed in keeps its own settings.
  std::chrono::milliseconds keepalive_time{30000};
  std::chrono::milliseconds keepalive_timeout{10000};
};

// Resolves the target ClientOptions would connect to.
std::string ResolveTarget(const std::string& target);

// Cancels unary calls from another thread: give it to calls in
// CallOptions::canceller; Cancel() ends those in flight at once with
// CANCELLED, and every later call given it fails with CANCELLED without
// reaching the server. Thread-safe.
class CallCanceller {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class client_internal::CancelScope;
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::vector<grpc::ClientContext*> in_flight_;
};

// Per-call settings shared by all unary calls.
struct CallOptions {
  // 0: ClientOptions::default_timeout.
  std::chrono::milliseconds timeout{0};
  // Optional: lets another thread cancel the call before its deadline.
  std::shared_ptr<CallCanceller> canceller;
};

struct GetOptions {
  std::string namespace_name;  // empty: "default"
  // "" or "0": current state; "N": a state not older than N (the server waits
  // up to 3 s for N, then OUT_OF_RANGE "too large resource version").
  std::string resource_version;
  CallOptions call;
};

struct ListOptions {
  std::string namespace_name;  // empty: all namespaces
  std::string label_selector;  // k=v, k!=v, k in (a,b), k notin (a), k, !k
  std::string resource_version;
  // "", "NotOlderThan" or "Exact" (state exactly at resource_version, or
  // IsExpired() when that revision is no longer retained).
  std::string resource_version_match;
  CallOptions call;
};

struct WatchOptions {
  std::string namespace_name;  // empty: all namespaces
  std::string label_selector;
  // "" or "0": synthetic ADDED for every current object first, then live
  // events. "N": every event after revision N, then live events; IsExpired()
  // when N is older than the server's history.
  std::string resource_version;
  bool allow_watch_bookmarks = false;
  bool send_initial_events = false;
  // > 0: the server ends the watch cleanly (OK) after this many seconds.
  std::int64_t timeout_seconds = 0;
  // Optional: lets another thread end the watch, also while Watch() is still
  // opening it (which waits for the connection: up to gRPC's 20 s connect
  // timeout against a server that accepted and stalled). The stream then
  // ends with CANCELLED. WatchStream::Cancel() works only once Watch() has
  // returned it.
  std::shared_ptr<CallCanceller> canceller;
};

struct CreateOptions {
  CallOptions call;
};

struct UpdateOptions {
  CallOptions call;
};

struct DeleteOptions {
  std::string namespace_name;  // empty: "default"
  // Non-empty: the delete applies only if the object still has this uid /
  // resource_version, else IsConflict().
  std::string precondition_uid;
  std::string precondition_resource_version;
  CallOptions call;
};

// PatchGpu's document types (docs/api.md, S31).
enum class PatchType {
  kMerge,           // RFC 7386 JSON merge patch: application/merge-patch+json
  kStrategicMerge,  // status.conditions merge by type: application/strategic-merge-patch+json
};

struct PatchOptions {
  std::string namespace_name;  // empty: "default"
  CallOptions call;
};

// The build facts a server reports (its /version endpoint says the same).
struct ServerVersion {
  std::string version;  // e.g. "0.1.0"
  std::string commit;
  std::string build_date;
};

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };

// "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR".
const char* EventTypeName(EventType type);

struct WatchEvent {
  EventType type = EventType::kAdded;
  // The object's new state; for DELETED its last state, whose
  // resource_version is the revision of the deletion. For BOOKMARK only
  // metadata.resource_version (and annotations) are set.
  Gpu object;
  // object.metadata().resource_version(), for convenience.
  const std::string& resource_version() const {
    return object.metadata().resource_version();
  }
  // BOOKMARK that ends the initial events of a send_initial_events watch.
  bool initial_events_end() const;
};

// One open watch. Not thread-safe, except Cancel(), which any thread may call
// to end a Next() blocked on another thread.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // Blocks for the next event. False when the stream is over; then Finish()
  // says why (OK after timeout_seconds or Cancel(); UNAVAILABLE on server
  // shutdown or when the connection stopped answering keepalive pings;
  // RESOURCE_EXHAUSTED when the server evicted a too-slow watcher;
  // OUT_OF_RANGE when the start revision is too old).
  virtual bool Next(WatchEvent* event) = 0;
  // Call once after Next() returned false.
  virtual Status Finish() = 0;
  virtual void Cancel() = 0;
};

class Client {
 public:
  // Connects lazily: construction never blocks and never fails; the first
  // call reports an unreachable server as IsUnavailable(). A TLS file that
  // cannot be read makes every call fail with INVALID_ARGUMENT.
  explicit Client(ClientOptions options = {});
  // Uses an existing channel (in-process servers, custom credentials) as it
  // was built: ClientOptions' target, TLS, message size and keepalive
  // settings do not apply to it.
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});
  virtual ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The target this client connects to ("" for a channel-built client).
  const std::string& target() const { return target_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  StatusOr<Gpu> Get(std::string_view name, const GetOptions& options = {});
  StatusOr<GpuList> List(const ListOptions& options = {});
  // Never null. Errors (including refusal to start) surface via Next()/Finish().
  std::unique_ptr<WatchStream> Watch(const WatchOptions& options = {});
  // Sets nothing on `gpu` itself; returns the server's stored copy.
  StatusOr<Gpu> Create(const Gpu& gpu, const CreateOptions& options = {});
  // Spec, labels and annotations. A non-empty metadata.resource_version makes
  // it conditional (IsConflict() when stale); empty is unconditional.
  StatusOr<Gpu> Update(const Gpu& gpu, const UpdateOptions& options = {});
  // Status only (the server reads name, namespace, resource_version, status).
  StatusOr<Gpu> UpdateStatus(const Gpu& gpu, const UpdateOptions& options = {});
  Status Delete(std::string_view name, const DeleteOptions& options = {});
  // Applies the JSON document `patch` (the proto's JSON field names) to the
  // stored object atomically, on the server: no read, resource version or
  // retry needed, and other writers' conditions survive. Patch changes
  // labels, annotations and spec; PatchStatus changes status only. A
  // "metadata": {"resourceVersion": ...} in the document is a precondition
  // (IsConflict() when stale). Malformed documents, unknown fields and
  // fields of the other part are IsInvalid(); nothing changes then.
  StatusOr<Gpu> Patch(std::string_view name, PatchType type, std::string_view patch,
                      const PatchOptions& options = {});
  StatusOr<Gpu> PatchStatus(std::string_view name, PatchType type, std::string_view patch,
                            const PatchOptions& options = {});

  // grpc.health.v1 Check on the same connection: OK when SERVING;
  // UNAVAILABLE with message "NOT_SERVING" (or the transport error) otherwise.
  // `service` "" asks about the whole server.
  Status CheckHealth(const std::string& service = "", const CallOptions& call = {});
  // The server's version, from the initial metadata of a health check
  // (device-api-version, device-api-commit, device-api-build-date). OK with
  // empty fields when the server sends none (an older server, FakeClient);
  // a transport error otherwise.
  StatusOr<ServerVersion> GetServerVersion(const CallOptions& call = {});

 private:
  friend class LeaseClient;  // shares the channel and its configuration error

  void SetDeadline(grpc::ClientContext* context, const CallOptions& call) const;
  StatusOr<Gpu> SendPatch(std::string_view name, PatchType type, std::string_view patch,
                          const char* subresource, const PatchOptions& options);

  ClientOptions options_;
  std::string target_;
  Status channel_error_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1alpha1::GpuService::Stub> stub_;
};

}  // namespace deviceapi
