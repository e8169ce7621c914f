// FakeClient runs the real store and GpuService behind an in-process gRPC
// channel: one implementation of the semantics, not two.
#include "deviceapi/fake_client.h"

#include <grpcpp/grpcpp.h>

#include "apiserver/gpu_service.h"
#include "apiserver/readiness.h"
#include "store/store.h"

namespace deviceapi {
namespace detail {

class FakeServer {
 public:
  explicit FakeServer(const FakeClientOptions& options)
      : store_(MakeStoreOptions(options)),
        readiness_(0, std::chrono::milliseconds(0), [this] { return store_.Stats().objects; }),
        service_(store_, readiness_, apiserver::ServiceLimits{}) {
    store_.Open();
    readiness_.MarkStorageLoaded();
    // So CheckHealth answers as on a real server.
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }

  ~FakeServer() {
    readiness_.BeginShutdown();
    store_.Shutdown();  // ends open watches so Shutdown below cannot hang
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
  }

  std::shared_ptr<grpc::Channel> Channel() {
    return server_->InProcessChannel(grpc::ChannelArguments());
  }

 private:
  static store::StoreOptions MakeStoreOptions(const FakeClientOptions& o) {
    store::StoreOptions so;
    so.watcher_queue_capacity = o.watcher_queue_capacity;
    so.history_max_events = o.history_max_events;
    so.bookmark_interval = o.bookmark_interval;
    return so;
  }

  store::Store store_;
  apiserver::Readiness readiness_;
  apiserver::GpuServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
};

FakeServerHolder::FakeServerHolder(const FakeClientOptions& options)
    : server(std::make_unique<FakeServer>(options)) {}
FakeServerHolder::~FakeServerHolder() = default;

}  // namespace detail

FakeClient::FakeClient(FakeClientOptions options)
    : detail::FakeServerHolder(options), Client(server->Channel()) {}

FakeClient::~FakeClient() = default;

}  // namespace deviceapi
