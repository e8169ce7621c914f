// Client: one channel, one stub; each unary call gets its own deadline.
#include "deviceapi/client.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include "client/health_codec.h"
#include "client/request_options.h"
#include "client/watch_stream.h"

namespace deviceapi {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int ClampMs(std::chrono::milliseconds d) {
  return static_cast<int>(std::clamp<std::int64_t>(d.count(), 1, std::numeric_limits<int>::max()));
}

}  // namespace

using client_internal::NamespaceOrDefault;
using client_internal::UnaryCall;
using Stub = v1alpha1::GpuService::Stub;

std::string ResolveTarget(const std::string& target) {
  if (!target.empty()) return target;
  const char* env = std::getenv(kServerEnvVar);
  if (env != nullptr && *env != '\0') return env;
  return kDefaultServerTarget;
}

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded: return "ADDED";
    case EventType::kModified: return "MODIFIED";
    case EventType::kDeleted: return "DELETED";
    case EventType::kBookmark: return "BOOKMARK";
    case EventType::kError: return "ERROR";
  }
  return "ERROR";
}

bool WatchEvent::initial_events_end() const {
  if (type != EventType::kBookmark) return false;
  const auto& ann = object.metadata().annotations();
  auto it = ann.find("k8s.io/initial-events-end");
  return it != ann.end() && it->second == "true";
}

Client::Client(ClientOptions options)
    : options_(std::move(options)), target_(ResolveTarget(options_.target)) {
  grpc::ChannelArguments args;
  if (!options_.user_agent.empty()) args.SetUserAgentPrefix(options_.user_agent);
  // The server is node-local: reconnect quickly after a restart instead of
  // gRPC's default first pause of a second. GRPC_ARG_MIN_RECONNECT_BACKOFF_MS
  // stays at its default: gRPC uses it as the least time a connection attempt
  // gets, and at 100 ms a server slow to answer a new connection (a loaded
  // node, a flood of connections) failed every call at once as unreachable.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  // Keepalive: a watch reads nothing for long stretches, so only pings tell
  // a live connection from one that stopped forwarding without closing.
  // Pings go on without calls and without data frames of ours (a watch sends
  // none after its request); the server permits both (no more often than its
  // --grpc-keepalive-min-time).
  if (options_.keepalive_time.count() > 0) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ClampMs(options_.keepalive_time));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ClampMs(options_.keepalive_timeout));
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  // TLS is for TCP listeners: the server's Unix socket is plaintext (its
  // file mode is the access control), so options shared with a TCP client
  // must not turn every call on the socket into a failed handshake.
  const bool unix_socket = target_.rfind("unix:", 0) == 0 || target_.rfind("unix-abstract:", 0) == 0;
  if (options_.tls.enabled && !unix_socket) {
    grpc::SslCredentialsOptions ssl;
    const auto& tls = options_.tls;
    if ((!tls.ca_file.empty() && !ReadFile(tls.ca_file, &ssl.pem_root_certs)) ||
        (!tls.cert_file.empty() && !ReadFile(tls.cert_file, &ssl.pem_cert_chain)) ||
        (!tls.key_file.empty() && !ReadFile(tls.key_file, &ssl.pem_private_key))) {
      channel_error_ = Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "cannot read a TLS file (ca, cert or key)");
    }
    if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  args.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<std::size_t>(options_.max_receive_message_bytes, std::numeric_limits<int>::max())));
  channel_ = grpc::CreateCustomChannel(target_, creds, args);
  stub_ = v1alpha1::GpuService::NewStub(channel_);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)), channel_(std::move(channel)) {
  stub_ = v1alpha1::GpuService::NewStub(channel_);
}

Client::~Client() = default;

void CallCanceller::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (grpc::ClientContext* context : in_flight_) context->TryCancel();
}

bool CallCanceller::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void Client::SetDeadline(grpc::ClientContext* context, const CallOptions& call) const {
  client_internal::SetDeadline(context, call, options_.default_timeout);
}

StatusOr<Gpu> Client::Get(std::string_view name, const GetOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::GetGpuRequest req;
  req.set_name(std::string(name));
  req.set_namespace_(NamespaceOrDefault(options.namespace_name));
  if (!options.resource_version.empty())
    req.mutable_opts()->set_resource_version(options.resource_version);
  auto resp = UnaryCall(*stub_, &Stub::GetGpu, req, options.call, options_.default_timeout);
  if (!resp.ok()) return resp.status();
  return std::move(*resp->mutable_gpu());
}

StatusOr<GpuList> Client::List(const ListOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::ListGpusRequest req;
  req.set_namespace_(options.namespace_name);
  auto* o = req.mutable_opts();
  o->set_resource_version(options.resource_version);
  o->set_label_selector(options.label_selector);
  o->set_resource_version_match(options.resource_version_match);
  auto resp = UnaryCall(*stub_, &Stub::ListGpus, req, options.call, options_.default_timeout);
  if (!resp.ok()) return resp.status();
  return std::move(*resp->mutable_gpu_list());
}

std::unique_ptr<WatchStream> Client::Watch(const WatchOptions& options) {
  v1alpha1::WatchGpusRequest req;
  req.set_namespace_(options.namespace_name);
  auto* o = req.mutable_opts();
  o->set_resource_version(options.resource_version);
  o->set_label_selector(options.label_selector);
  o->set_allow_watch_bookmarks(options.allow_watch_bookmarks);
  o->set_send_initial_events(options.send_initial_events);
  o->set_timeout_seconds(options.timeout_seconds);
  if (!channel_error_.ok()) return MakeFailedWatchStream(channel_error_);
  return MakeGrpcWatchStream(stub_.get(), req, options.canceller.get());
}

StatusOr<Gpu> Client::Create(const Gpu& gpu, const CreateOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::CreateGpuRequest req;
  *req.mutable_gpu() = gpu;
  return UnaryCall(*stub_, &Stub::CreateGpu, req, options.call, options_.default_timeout);
}

StatusOr<Gpu> Client::Update(const Gpu& gpu, const UpdateOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::UpdateGpuRequest req;
  *req.mutable_gpu() = gpu;
  return UnaryCall(*stub_, &Stub::UpdateGpu, req, options.call, options_.default_timeout);
}

StatusOr<Gpu> Client::UpdateStatus(const Gpu& gpu, const UpdateOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::UpdateGpuStatusRequest req;
  // Only what the server reads travels: name, namespace, version, status.
  auto* meta = req.mutable_gpu()->mutable_metadata();
  meta->set_name(gpu.metadata().name());
  meta->set_namespace_(gpu.metadata().namespace_());
  meta->set_resource_version(gpu.metadata().resource_version());
  *req.mutable_gpu()->mutable_status() = gpu.status();
  return UnaryCall(*stub_, &Stub::UpdateGpuStatus, req, options.call, options_.default_timeout);
}

StatusOr<Gpu> Client::Patch(std::string_view name, PatchType type, std::string_view patch,
                            const PatchOptions& options) {
  return SendPatch(name, type, patch, "", options);
}

StatusOr<Gpu> Client::PatchStatus(std::string_view name, PatchType type, std::string_view patch,
                                  const PatchOptions& options) {
  return SendPatch(name, type, patch, "status", options);
}

StatusOr<Gpu> Client::SendPatch(std::string_view name, PatchType type, std::string_view patch,
                                const char* subresource, const PatchOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::PatchGpuRequest req;
  req.set_name(std::string(name));
  req.set_namespace_(NamespaceOrDefault(options.namespace_name));
  req.set_patch_type(type == PatchType::kMerge ? "application/merge-patch+json"
                                               : "application/strategic-merge-patch+json");
  req.set_data(std::string(patch));
  req.set_subresource(subresource);
  return UnaryCall(*stub_, &Stub::PatchGpu, req, options.call, options_.default_timeout);
}

Status Client::Delete(std::string_view name, const DeleteOptions& options) {
  if (!channel_error_.ok()) return channel_error_;
  v1alpha1::DeleteGpuRequest req;
  req.set_name(std::string(name));
  req.set_namespace_(NamespaceOrDefault(options.namespace_name));
  client_internal::SetPreconditions(options, req.mutable_opts());
  return UnaryCall(*stub_, &Stub::DeleteGpu, req, options.call, options_.default_timeout).status();
}

namespace {

// One grpc.health.v1 Check on `channel`; `context` then holds the server's
// initial metadata.
grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                         grpc::ClientContext* context, const std::string& service,
                         grpc::ByteBuffer* response) {
  grpc::GenericStub generic(channel);
  grpc::ByteBuffer request = EncodeHealthCheckRequest(service);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status result;
  generic.UnaryCall(context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    response, [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      result = std::move(s);
                      done = true;
                      cv.notify_one();
                    });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return result;
}

}  // namespace

Status Client::CheckHealth(const std::string& service, const CallOptions& call) {
  if (!channel_error_.ok()) return channel_error_;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, call);
  client_internal::CancelScope cancel(call.canceller.get(), &ctx);
  grpc::ByteBuffer response;
  grpc::Status result = HealthCheck(channel_, &ctx, service, &response);
  if (!result.ok()) return Status::FromGrpc(result);
  int serving = DecodeHealthCheckResponse(response);
  if (serving == 1) return Status();
  static const char* kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  return Status(grpc::StatusCode::UNAVAILABLE,
                serving >= 0 && serving <= 3 ? kNames[serving] : "UNKNOWN");
}

StatusOr<ServerVersion> Client::GetServerVersion(const CallOptions& call) {
  if (!channel_error_.ok()) return channel_error_;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, call);
  client_internal::CancelScope cancel(call.canceller.get(), &ctx);
  grpc::ByteBuffer response;
  grpc::Status result = HealthCheck(channel_, &ctx, "", &response);
  if (!result.ok()) return Status::FromGrpc(result);
  const auto& metadata = ctx.GetServerInitialMetadata();
  auto value = [&](const char* key) {
    auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
  };
  return ServerVersion{value("device-api-version"), value("device-api-commit"),
                       value("device-api-build-date")};
}

}  // namespace deviceapi
