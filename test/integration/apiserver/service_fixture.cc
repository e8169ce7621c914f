#include "service_fixture.h"

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>


namespace deviceapi::apiserver::testing {

std::chrono::system_clock::time_point Deadline(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

void ServiceFixture::SetUp() {
  char tmpl[] = "/tmp/apisrv.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  StartServer();
}

void ServiceFixture::TearDown() {
  StopServer();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void ServiceFixture::StartServer(ServerSetup setup) {
  StopServer();
  if (storage() == Storage::kSqlite) {
    const std::string prefix = dir_ + "/state" + std::to_string(generation_);
    if (!setup.store.backend) setup.store.backend = OpenSqlite<v1::Gpu>(prefix + ".db");
    if (!setup.lease_backend) setup.lease_backend = OpenSqlite<v1::Lease>(prefix + "-leases.db");
    ASSERT_TRUE(setup.store.backend && setup.lease_backend);
  }
  store_ = std::make_unique<store::Store>(setup.store);
  ASSERT_TRUE(store_->Open().ok());
  store::Store* raw_store = store_.get();
  readiness_ = std::make_unique<Readiness>(setup.min_gpus, setup.grace,
                                           [raw_store] { return raw_store->Stats().objects; });
  if (setup.storage_loaded) readiness_->MarkStorageLoaded();
  service_ = std::make_unique<GpuServiceImpl>(*store_, *readiness_, setup.limits);
  store::StoreOptions lease_options = setup.store;
  lease_options.backend = setup.lease_backend;  // null: memory
  lease_store_ = std::make_unique<store::Store>(lease_options);
  ASSERT_TRUE(lease_store_->Open().ok());
  lease_service_ = std::make_unique<LeaseServiceImpl>(*lease_store_, *readiness_, setup.limits);
  lease_controller_ = std::make_unique<LeaseController>(
      service_->registry(), lease_service_->registry(),
      setup.server_start.value_or(std::chrono::system_clock::now()), setup.wall_clock);
  service_->registry().SetAdmission(&lease_controller_->gpu_admission());
  lease_service_->registry().SetAdmission(&lease_controller_->lease_admission());
  ASSERT_TRUE(lease_controller_->Start().ok());
  address_ = "unix:" + dir_ + "/api" + std::to_string(generation_++) + ".sock";
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  builder.RegisterService(lease_service_.get());
  builder.SetMaxReceiveMessageSize(4 << 20);  // S19 request size, as the server sets it
  server_ = builder.BuildAndStart();
  ASSERT_NE(server_, nullptr);
  channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  stub_ = v1::GpuService::NewStub(channel_);
  lease_stub_ = v1::LeaseService::NewStub(channel_);
}

void ServiceFixture::StopServer() {
  if (server_) {
    readiness_->BeginShutdown();
    store_->Shutdown();  // ends open watches (UNAVAILABLE)
    lease_store_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
  }
  if (lease_controller_) lease_controller_->Stop();
  stub_.reset();
  lease_stub_.reset();
  channel_.reset();
  lease_controller_.reset();
  lease_service_.reset();
  lease_store_.reset();
  service_.reset();
  readiness_.reset();
  store_.reset();
}

grpc::Status ServiceFixture::RawCall(const std::string& method, const std::string& request,
                                     std::string* response) {
  const std::string path = "/nvidia.nvsentinel.v1alpha1.GpuService/" + method;
  grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1), out;
  grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel_.get(), rpc, &ctx, in, &out);
  if (status.ok() && response != nullptr) {
    std::vector<grpc::Slice> slices;
    (void)out.Dump(&slices);
    response->clear();
    for (const auto& s : slices) response->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return status;
}

std::string ServiceFixture::UuidFor(int index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "GPU-%08x-0000-4000-8000-%012x", index, index * 7);
  return buf;
}

v1::Gpu ServiceFixture::MakeGpu(int index, const std::string& ns) {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name(UuidFor(index));
  gpu.mutable_metadata()->set_namespace_(ns);
  gpu.mutable_spec()->set_uuid(UuidFor(index));
  auto* c = gpu.mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status("True");
  c->set_reason("Initialized");
  return gpu;
}

grpc::Status ServiceFixture::Create(const v1::Gpu& gpu, v1::Gpu* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::CreateGpuRequest req;
  *req.mutable_gpu() = gpu;
  v1::Gpu resp;
  auto s = stub_->CreateGpu(&ctx, req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status ServiceFixture::Update(const v1::Gpu& gpu, v1::Gpu* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::UpdateGpuRequest req;
  *req.mutable_gpu() = gpu;
  v1::Gpu resp;
  auto s = stub_->UpdateGpu(&ctx, req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status ServiceFixture::UpdateStatus(const v1::Gpu& gpu, v1::Gpu* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::UpdateGpuStatusRequest req;
  *req.mutable_gpu() = gpu;
  v1::Gpu resp;
  auto s = stub_->UpdateGpuStatus(&ctx, req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status ServiceFixture::Get(const std::string& name, const std::string& ns, v1::Gpu* out,
                                 const std::string& rv) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::GetGpuRequest req;
  req.set_name(name);
  req.set_namespace_(ns);
  req.mutable_opts()->set_resource_version(rv);
  v1::GetGpuResponse resp;
  auto s = stub_->GetGpu(&ctx, req, &resp);
  if (out) *out = resp.gpu();
  return s;
}

grpc::Status ServiceFixture::Delete(const std::string& name, const std::string& ns,
                                    const v1::Preconditions* pre) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::DeleteGpuRequest req;
  req.set_name(name);
  req.set_namespace_(ns);
  if (pre) *req.mutable_opts()->mutable_preconditions() = *pre;
  google::protobuf::Empty resp;
  return stub_->DeleteGpu(&ctx, req, &resp);
}

grpc::Status ServiceFixture::List(const v1::ListGpusRequest& request, v1::GpuList* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::ListGpusResponse resp;
  auto s = stub_->ListGpus(&ctx, request, &resp);
  if (out) *out = resp.gpu_list();
  return s;
}

std::string ServiceFixture::Snapshot() {
  auto list = store_->List();
  if (!list.ok()) return "<error>";
  std::string out = std::to_string(list->revision) + "|";
  for (const auto& item : list->items) {
    out += item->key().namespace_name + "/" + item->key().name + "@" +
           std::to_string(item->revision()) + ";";
  }
  v1::ListGpusRequest req;
  v1::GpuList served;
  // Also compare what the API serves, field by field.
  if (List(req, &served).ok()) out += served.ShortDebugString();
  return out;
}

grpc::Status ServiceFixture::Patch(const std::string& name, const std::string& type,
                                   const std::string& data, const std::string& subresource,
                                   v1::Gpu* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::PatchGpuRequest req;
  req.set_name(name);
  req.set_patch_type(type);
  req.set_data(data);
  req.set_subresource(subresource);
  v1::Gpu resp;
  auto s = stub_->PatchGpu(&ctx, req, &resp);
  if (out) *out = resp;
  return s;
}

v1::Lease ServiceFixture::MakeLease(const std::string& name, const std::string& holder,
                                    int seconds, const std::vector<std::string>& types) {
  v1::Lease lease;
  lease.mutable_metadata()->set_name(name);
  lease.mutable_spec()->set_holder_identity(holder);
  lease.mutable_spec()->set_lease_duration_seconds(seconds);
  for (const auto& t : types) lease.mutable_spec()->add_condition_types(t);
  return lease;
}

grpc::Status ServiceFixture::CreateLease(const v1::Lease& lease, v1::Lease* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::CreateLeaseRequest req;
  *req.mutable_lease() = lease;
  v1::Lease resp;
  auto s = lease_stub_->CreateLease(&ctx, req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status ServiceFixture::UpdateLease(const v1::Lease& lease, v1::Lease* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::UpdateLeaseRequest req;
  *req.mutable_lease() = lease;
  v1::Lease resp;
  auto s = lease_stub_->UpdateLease(&ctx, req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status ServiceFixture::GetLease(const std::string& name, v1::Lease* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::GetLeaseRequest req;
  req.set_name(name);
  v1::GetLeaseResponse resp;
  auto s = lease_stub_->GetLease(&ctx, req, &resp);
  if (out) *out = resp.lease();
  return s;
}

}  // namespace deviceapi::apiserver::testing
