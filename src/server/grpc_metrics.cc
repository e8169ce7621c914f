#include "server/grpc_metrics.h"

#include <array>
#include <atomic>
#include <chrono>
#include <shared_mutex>
#include <unordered_map>

#include <google/protobuf/descriptor.h>
#include <grpcpp/server_context.h>

#include "metrics/registry.h"

namespace deviceapi::server {

namespace {

constexpr std::array<const char*, 17> kCodeNames = {
    "OK",           "Canceled",         "Unknown",           "InvalidArgument",
    "DeadlineExceeded", "NotFound",     "AlreadyExists",     "PermissionDenied",
    "ResourceExhausted", "FailedPrecondition", "Aborted",    "OutOfRange",
    "Unimplemented", "Internal",        "Unavailable",       "DataLoss",
    "Unauthenticated"};

const char* TypeName(grpc::experimental::ServerRpcInfo::Type t) {
  using T = grpc::experimental::ServerRpcInfo::Type;
  switch (t) {
    case T::UNARY: return "unary";
    case T::CLIENT_STREAMING: return "client_stream";
    case T::SERVER_STREAMING: return "server_stream";
    case T::BIDI_STREAMING: return "bidi_stream";
  }
  return "unknown";
}

// "/pkg.Service/Method" -> ("pkg.Service", "Method"). False if not that shape.
bool SplitMethod(std::string_view full, std::string* service, std::string* method) {
  if (full.size() < 4 || full[0] != '/') return false;
  const std::size_t slash = full.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == full.size()) return false;
  *service = std::string(full.substr(1, slash - 1));
  *method = std::string(full.substr(slash + 1));
  return true;
}

}  // namespace

const char* GrpcCodeName(int code) {
  if (code < 0 || code >= static_cast<int>(kCodeNames.size())) return "Unknown";
  return kCodeNames[static_cast<std::size_t>(code)];
}

// Metrics of one method, looked up once and cached.
struct MethodMetrics {
  std::vector<std::string> labels;  // service, method, type
  metrics::Counter* started = nullptr;
  metrics::Counter* msg_received = nullptr;
  metrics::Counter* msg_sent = nullptr;
  metrics::Histogram* handling = nullptr;
  std::array<std::atomic<metrics::Counter*>, 17> handled{};
};

class GrpcServerMetrics::Impl {
 public:
  explicit Impl(metrics::Registry& r)
      : started_(r.AddCounter("grpc_server_started_total",
                              "Total number of RPCs started on the server.", Labels())),
        handled_(r.AddCounter("grpc_server_handled_total",
                              "Total number of RPCs completed on the server, regardless of success or failure.",
                              {"grpc_service", "grpc_method", "grpc_type", "grpc_code"})),
        handling_(r.AddHistogram("grpc_server_handling_seconds",
                                 "Histogram of response latency (seconds) of gRPC that had been "
                                 "application-level handled by the server.",
                                 Labels(), metrics::DefaultBuckets())),
        received_(r.AddCounter("grpc_server_msg_received_total",
                               "Total number of RPC stream messages received on the server.", Labels())),
        sent_(r.AddCounter("grpc_server_msg_sent_total",
                           "Total number of gRPC stream messages sent by the server.", Labels())) {}

  static std::vector<std::string> Labels() { return {"grpc_service", "grpc_method", "grpc_type"}; }

  // The metrics of a call to `full_method`; undeclared or malformed paths
  // share the "unknown" series of their type (see InitializeMethod).
  MethodMetrics* For(std::string_view full_method, const char* type) {
    bool restricted;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      auto it = cache_.find(std::string(full_method));
      if (it != cache_.end()) return it->second.get();
      restricted = restricted_;
    }
    std::string service, method;
    if (restricted || auto_methods_.load(std::memory_order_relaxed) >= kMaxAutoMethods ||
        !SplitMethod(full_method, &service, &method)) {
      return Create("?unknown/" + std::string(type), "unknown", "unknown", type);
    }
    auto_methods_.fetch_add(1, std::memory_order_relaxed);
    return Create(std::string(full_method), service, method, type);
  }

  MethodMetrics* Declare(std::string_view full_method, std::string_view type) {
    std::string service, method;
    if (!SplitMethod(full_method, &service, &method)) return nullptr;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      restricted_ = true;
    }
    return Create(std::string(full_method), service, method, std::string(type));
  }

  MethodMetrics* Create(const std::string& key, const std::string& service,
                        const std::string& method, const std::string& type) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto& slot = cache_[key];
    if (!slot) {
      auto m = std::make_unique<MethodMetrics>();
      m->labels = {service, method, type};
      m->started = &started_.WithLabels(m->labels);
      m->msg_received = &received_.WithLabels(m->labels);
      m->msg_sent = &sent_.WithLabels(m->labels);
      m->handling = &handling_.WithLabels(m->labels);
      slot = std::move(m);
    }
    return slot.get();
  }

  metrics::Counter& HandledCounter(MethodMetrics& m, int code) {
    if (code < 0 || code >= static_cast<int>(kCodeNames.size())) code = 2;  // Unknown
    auto& slot = m.handled[static_cast<std::size_t>(code)];
    metrics::Counter* c = slot.load(std::memory_order_acquire);
    if (!c) {
      std::vector<std::string> labels = m.labels;
      labels.push_back(kCodeNames[static_cast<std::size_t>(code)]);
      c = &handled_.WithLabels(labels);  // idempotent: racing threads get the same child
      slot.store(c, std::memory_order_release);
    }
    return *c;
  }

  void Handled(MethodMetrics& m, int code, double seconds) {
    HandledCounter(m, code).Inc();
    m.handling->Observe(seconds);
  }

 private:
  metrics::CounterFamily& started_;
  metrics::CounterFamily& handled_;
  metrics::HistogramFamily& handling_;
  metrics::CounterFamily& received_;
  metrics::CounterFamily& sent_;
  std::shared_mutex mu_;
  // Keyed by full method path; "?unknown/<type>" for undeclared ones.
  std::unordered_map<std::string, std::unique_ptr<MethodMetrics>> cache_;
  bool restricted_ = false;  // some method was declared: others are "unknown"
  // Without declared methods, paths are recorded as they come, up to this
  // many; beyond it they are "unknown" too, so the label space stays bounded.
  static constexpr int kMaxAutoMethods = 64;
  std::atomic<int> auto_methods_{0};
};

namespace {

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics::Impl& impl, MethodMetrics& m, grpc::ServerContextBase* ctx)
      : impl_(impl), m_(m), ctx_(ctx), start_(std::chrono::steady_clock::now()) {
    m_.started->Inc();
  }

  // A call torn down without sending a status (the client went away) still
  // counts as handled, so started and handled add up.
  ~MetricsInterceptor() override {
    if (!done_) impl_.Handled(m_, static_cast<int>(grpc::StatusCode::CANCELLED), Elapsed());
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using H = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(H::POST_RECV_MESSAGE) && methods->GetRecvMessage()) {
      m_.msg_received->Inc();
    }
    if (methods->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE)) m_.msg_sent->Inc();
    if (methods->QueryInterceptionHookPoint(H::PRE_SEND_STATUS) && !done_) {
      done_ = true;
      impl_.Handled(m_, Code(methods->GetSendStatus().error_code()), Elapsed());
    }
    methods->Proceed();
  }

 private:
  // A handler may answer a call the client already abandoned with any code
  // (gRPC's own health Watch says UNKNOWN); what happened is a cancellation
  // or an expired deadline, and that is what the metric reports.
  int Code(grpc::StatusCode sent) const {
    if (sent == grpc::StatusCode::CANCELLED || sent == grpc::StatusCode::DEADLINE_EXCEEDED ||
        !ctx_ || !ctx_->IsCancelled()) {
      return static_cast<int>(sent);
    }
    return static_cast<int>(std::chrono::system_clock::now() >= ctx_->deadline()
                                ? grpc::StatusCode::DEADLINE_EXCEEDED
                                : grpc::StatusCode::CANCELLED);
  }

  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  GrpcServerMetrics::Impl& impl_;
  MethodMetrics& m_;
  grpc::ServerContextBase* const ctx_;
  const std::chrono::steady_clock::time_point start_;
  bool done_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics::Impl& impl) : impl_(impl) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    if (!method) return nullptr;
    MethodMetrics* m = impl_.For(method, TypeName(info->type()));
    if (!m) return nullptr;  // gRPC accepts a null interceptor: nothing to record
    return new MetricsInterceptor(impl_, *m, info->server_context());
  }

 private:
  GrpcServerMetrics::Impl& impl_;
};

// The factory of NewGrpcMetricsInterceptorFactory: owns its metrics.
class OwningFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit OwningFactory(std::unique_ptr<GrpcServerMetrics> metrics)
      : metrics_(std::move(metrics)), inner_(metrics_->NewInterceptorFactory()) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return inner_->CreateServerInterceptor(info);
  }

 private:
  std::unique_ptr<GrpcServerMetrics> metrics_;
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> inner_;
};

}  // namespace

GrpcServerMetrics::GrpcServerMetrics(metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(registry)) {}
GrpcServerMetrics::~GrpcServerMetrics() = default;

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(*impl_);
}

void GrpcServerMetrics::InitializeMethod(std::string_view full_method, std::string_view type) {
  MethodMetrics* m = impl_->Declare(full_method, type);
  if (m) impl_->HandledCounter(*m, 0);  // creating the child is enough: it reads 0
}

bool GrpcServerMetrics::InitializeService(std::string_view service_full_name) {
  const std::string name(service_full_name);
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
  if (!service) {
    // gRPC's health service is built without a C++ protobuf descriptor.
    if (name != "grpc.health.v1.Health") return false;
    InitializeMethod("/grpc.health.v1.Health/Check", "unary");
    InitializeMethod("/grpc.health.v1.Health/Watch", "server_stream");
    return true;
  }
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* m = service->method(i);
    const char* type = m->client_streaming() ? (m->server_streaming() ? "bidi_stream" : "client_stream")
                                             : (m->server_streaming() ? "server_stream" : "unary");
    InitializeMethod("/" + name + "/" + m->name(), type);
  }
  return true;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcMetricsInterceptorFactory(metrics::Registry& registry,
                                 const std::vector<std::string>& services) {
  auto metrics = std::make_unique<GrpcServerMetrics>(registry);
  for (const std::string& s : services) metrics->InitializeService(s);
  return std::make_unique<OwningFactory>(std::move(metrics));
}

}  // namespace deviceapi::server
