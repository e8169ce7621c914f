// An in-process Device API Server on a Unix socket for SDK tests: the real
// store and GpuService, restartable on the same socket, optionally keeping
// its objects across restarts (as a durable backend would).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "apiserver/gpu_service.h"
#include "apiserver/readiness.h"
#include "store/backend.h"
#include "store/store.h"

namespace deviceapi::testing {

// Keeps committed objects in memory across store instances: a restart loads
// them back. Objects are immutable snapshots, so sharing them is safe.
class KeepingBackend final : public store::Backend {
 public:
  store::Result<Snapshot> Load() override {
    std::lock_guard lock(mu_);
    Snapshot s;
    s.revision = revision_;
    for (const auto& [key, obj] : objects_) s.objects.push_back(obj);
    return s;
  }
  store::Result<bool> Commit(const std::vector<store::Event>& events, store::Revision) override {
    std::lock_guard lock(mu_);
    for (const store::Event& event : events) {
      revision_ = std::max(revision_, event.revision);
      if (event.type == store::EventType::kDeleted) objects_.erase(event.object->key());
      else if (event.object) objects_[event.object->key()] = event.object;
    }
    return true;
  }
  const char* Name() const override { return "keeping"; }

 private:
  std::mutex mu_;
  store::Revision revision_ = 0;
  std::map<store::ObjectKey, store::ObjectPtr> objects_;
};

class TestServer {
 public:
  explicit TestServer(std::string socket_path, store::StoreOptions options = {})
      : path_(std::move(socket_path)), options_(std::move(options)) {}
  ~TestServer() { Stop(); }

  void Start() {
    store_ = std::make_unique<store::Store>(options_);
    if (!store_->Open().ok()) std::abort();
    readiness_ = std::make_unique<apiserver::Readiness>(
        0, std::chrono::milliseconds(0), [s = store_.get()] { return s->Stats().objects; });
    readiness_->MarkStorageLoaded();
    service_ = std::make_unique<apiserver::GpuServiceImpl>(*store_, *readiness_);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + path_, grpc::InsecureServerCredentials());
    if (min_ping_interval_.count() > 0) {
      // The real server's keepalive enforcement, with a test's minimum.
      builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
      builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                                 static_cast<int>(min_ping_interval_.count()));
      builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
    }
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    if (!server_) std::abort();
  }

  // Like a graceful shutdown: watches end UNAVAILABLE, in-flight calls finish.
  void Stop() {
    if (!server_) return;
    readiness_->BeginShutdown();
    store_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
    server_.reset();
    service_.reset();
    readiness_.reset();
    store_.reset();
  }

  void Restart() {
    Stop();
    Start();
  }

  // Before Start(): accept client keepalive pings as often as `interval`,
  // as the real server does with --grpc-keepalive-min-time (gRPC's own
  // default closes a connection pinged more often than every 5 minutes).
  void PermitPingsEvery(std::chrono::milliseconds interval) { min_ping_interval_ = interval; }

  std::string target() const { return "unix://" + path_; }
  store::Store& store() { return *store_; }
  apiserver::GpuServiceImpl& service() { return *service_; }
  store::StoreOptions& options() { return options_; }

 private:
  std::string path_;
  store::StoreOptions options_;
  std::chrono::milliseconds min_ping_interval_{0};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Readiness> readiness_;
  std::unique_ptr<apiserver::GpuServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace deviceapi::testing
