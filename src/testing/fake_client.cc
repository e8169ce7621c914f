// FakeClient runs the real store, GpuService, LeaseService and
// LeaseController behind an in-process gRPC channel: one implementation of
// the semantics, not two.
#include "deviceapi/fake_client.h"

#include <grpcpp/grpcpp.h>

#include "apiserver/gpu_service.h"
#include "apiserver/lease_controller.h"
#include "apiserver/lease_service.h"
#include "apiserver/readiness.h"
#include "store/store.h"

namespace deviceapi {
namespace detail {

class FakeServer {
 public:
  explicit FakeServer(const FakeClientOptions& options)
      : store_(MakeStoreOptions(options)),
        lease_store_(MakeStoreOptions(options)),
        readiness_(0, std::chrono::milliseconds(0), [this] { return store_.Stats().objects; }),
        service_(store_, readiness_, apiserver::ServiceLimits{}),
        lease_service_(lease_store_, readiness_, apiserver::ServiceLimits{}),
        lease_controller_(service_.registry(), lease_service_.registry()) {
    store_.Open();
    lease_store_.Open();
    readiness_.MarkStorageLoaded();
    // As the server wires them (server.cc): leases turn owned conditions
    // Unknown on expiry and gate writes of True (S28-S30).
    service_.registry().SetAdmission(&lease_controller_.gpu_admission());
    lease_service_.registry().SetAdmission(&lease_controller_.lease_admission());
    lease_controller_.Start();
    // So CheckHealth answers as on a real server.
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    builder.RegisterService(&lease_service_);
    server_ = builder.BuildAndStart();
  }

  ~FakeServer() {
    lease_controller_.Stop();
    readiness_.BeginShutdown();
    lease_store_.Shutdown();
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
  store::Store lease_store_;
  apiserver::Readiness readiness_;
  apiserver::GpuServiceImpl service_;
  apiserver::LeaseServiceImpl lease_service_;
  apiserver::LeaseController lease_controller_;
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
