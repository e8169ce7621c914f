// A real GpuService and LeaseService (with the LeaseController the server
// runs) behind a real Unix socket in a temp dir, with the generated stubs
// and a raw-bytes caller for hostile requests.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/gpu_service.h"
#include "apiserver/lease_controller.h"
#include "apiserver/lease_service.h"
#include "apiserver/proto_object.h"
#include "apiserver/readiness.h"
#include "device_api.grpc.pb.h"
#include "eventually.h"
#include "store/sqlite_backend.h"
#include "store/store.h"

namespace deviceapi::apiserver::testing {

namespace v1 = nvidia::nvsentinel::v1alpha1;
using ::deviceapi::testing::Eventually;

// A sqlite backend on `path` for objects of type Msg (null, with a test
// failure, when it cannot be opened).
template <typename Msg>
std::shared_ptr<store::Backend> OpenSqlite(const std::string& path) {
  store::SqliteOptions options;
  options.path = path;
  options.codec = std::make_shared<ProtoCodec<Msg>>();
  auto backend = store::SqliteBackend::Open(std::move(options));
  EXPECT_TRUE(backend.ok()) << backend.error().message;
  return backend.ok() ? *backend : nullptr;
}

struct ServerSetup {
  store::StoreOptions store;  // the GPU store's; the lease store's too, but for its backend
  // The lease store's backend; unset: memory, or with Storage::kSqlite a
  // database file of its own.
  std::shared_ptr<store::Backend> lease_backend;
  ServiceLimits limits;
  std::size_t min_gpus = 0;
  std::chrono::milliseconds grace{0};
  bool storage_loaded = true;
  // The server's start as the LeaseController sees it (S28); unset: now.
  std::optional<std::chrono::system_clock::time_point> server_start;
  // The wall clock the LeaseController reads; unset: the system's.
  std::function<std::chrono::system_clock::time_point()> wall_clock;
};

// The store backend a suite runs on. Conformance suites run on both:
//   class FooTest : public ServiceFixture, public ::testing::WithParamInterface<Storage> {
//     Storage storage() const override { return GetParam(); }
//   };
//   INSTANTIATE_TEST_SUITE_P(Backends, FooTest, AllStorages(), StorageName);
enum class Storage { kMemory, kSqlite };
inline auto AllStorages() { return ::testing::Values(Storage::kMemory, Storage::kSqlite); }
inline std::string StorageName(const ::testing::TestParamInfo<Storage>& info) {
  return info.param == Storage::kMemory ? "memory" : "sqlite";
}

class ServiceFixture : public ::testing::Test {
 public:
  // A valid GPU named after its UUID ("GPU-0000000i-...").
  static v1::Gpu MakeGpu(int index, const std::string& ns = "");
  static std::string UuidFor(int index);

 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts (or restarts) the server; SetUp starts one with defaults.
  void StartServer(ServerSetup setup = {});
  void StopServer();

  // The backend StartServer gives a store whose setup names none; sqlite:
  // a new database file in the fixture's temp dir for every start.
  virtual Storage storage() const { return Storage::kMemory; }

  store::Store& store() { return *store_; }
  Readiness& readiness() { return *readiness_; }
  GpuServiceImpl& service() { return *service_; }
  v1::GpuService::Stub& stub() { return *stub_; }
  v1::LeaseService::Stub& lease_stub() { return *lease_stub_; }
  LeaseController& lease_controller() { return *lease_controller_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  // The server's listening address ("unix:..."), for a channel of a test's own.
  const std::string& address() const { return address_; }

  // Unary call with hand-made request bytes; `method` like "CreateGpu".
  grpc::Status RawCall(const std::string& method, const std::string& request,
                       std::string* response = nullptr);

  grpc::Status Create(const v1::Gpu& gpu, v1::Gpu* out = nullptr);
  grpc::Status Update(const v1::Gpu& gpu, v1::Gpu* out = nullptr);
  grpc::Status UpdateStatus(const v1::Gpu& gpu, v1::Gpu* out = nullptr);
  grpc::Status Get(const std::string& name, const std::string& ns, v1::Gpu* out,
                   const std::string& rv = "");
  grpc::Status Delete(const std::string& name, const std::string& ns = "",
                      const v1::Preconditions* pre = nullptr);
  grpc::Status List(const v1::ListGpusRequest& request, v1::GpuList* out);
  grpc::Status Patch(const std::string& name, const std::string& type, const std::string& data,
                     const std::string& subresource, v1::Gpu* out = nullptr);
  grpc::Status CreateLease(const v1::Lease& lease, v1::Lease* out = nullptr);
  grpc::Status UpdateLease(const v1::Lease& lease, v1::Lease* out = nullptr);
  grpc::Status GetLease(const std::string& name, v1::Lease* out);
  // A lease in namespace default owning `types`, renewed now.
  static v1::Lease MakeLease(const std::string& name, const std::string& holder, int seconds,
                             const std::vector<std::string>& types);
  // Every stored object, serialized, for before/after comparisons.
  std::string Snapshot();

 protected:
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Readiness> readiness_;
  std::unique_ptr<GpuServiceImpl> service_;
  std::unique_ptr<store::Store> lease_store_;
  std::unique_ptr<LeaseServiceImpl> lease_service_;
  std::unique_ptr<LeaseController> lease_controller_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::GpuService::Stub> stub_;
  std::unique_ptr<v1::LeaseService::Stub> lease_stub_;
  int generation_ = 0;
};

// A deadline for test RPCs: generous, but a hang fails instead of blocking.
std::chrono::system_clock::time_point Deadline(int seconds = 10);

}  // namespace deviceapi::apiserver::testing
