// The fixture of the lease suites (lease_test.cc, lease_expiry_test.cc):
// GPUs with owned conditions, leases renewed by hand, and backends whose
// commits fail or stall as a full or slow disk does (S26).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "service_fixture.h"

namespace deviceapi::apiserver::testing {

class LeaseTest : public ServiceFixture {
 protected:
  // A GPU whose conditions are NVMLReady=True and DCGMHealthy=True.
  v1::Gpu CreateGpuWithConditions(int index) {
    v1::Gpu gpu = MakeGpu(index);
    gpu.mutable_status()->clear_conditions();
    for (const char* type : {"NVMLReady", "DCGMHealthy"}) {
      auto* c = gpu.mutable_status()->add_conditions();
      c->set_type(type);
      c->set_status("True");
      c->set_reason("Healthy");
    }
    v1::Gpu out;
    EXPECT_TRUE(Create(gpu, &out).ok());
    return out;
  }
  static const v1::Condition* Find(const v1::Gpu& gpu, const std::string& type) {
    for (const auto& c : gpu.status().conditions()) {
      if (c.type() == type) return &c;
    }
    return nullptr;
  }
  v1::Gpu Current(int index) {
    v1::Gpu got;
    EXPECT_TRUE(Get(UuidFor(index), "", &got).ok());
    return got;
  }
  v1::Gpu WithCondition(v1::Gpu gpu, const std::string& type, const std::string& status) {
    for (auto& c : *gpu.mutable_status()->mutable_conditions()) {
      if (c.type() == type) {
        c.set_status(status);
        c.set_reason(status == "True" ? "Healthy" : "Failing");
        c.clear_last_transition_time();
      }
    }
    return gpu;
  }
  // Renews `name` now (the server fills renew_time).
  grpc::Status Renew(const std::string& name, v1::Lease* out = nullptr) {
    v1::Lease lease;
    if (auto s = GetLease(name, &lease); !s.ok()) return s;
    lease.mutable_spec()->clear_renew_time();
    return UpdateLease(lease, out);
  }
  // Restarts the server on `backend` for the GPUs (leases in memory).
  template <typename B>
  std::shared_ptr<B> StartOnGpuBackend(std::shared_ptr<B> backend) {
    ServerSetup setup;
    setup.store.backend = backend;
    StartServer(setup);
    return backend;
  }
  grpc::Status DeleteLease(const std::string& name, const v1::Preconditions& pre = {}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::DeleteLeaseRequest req;
    req.set_name(name);
    *req.mutable_opts()->mutable_preconditions() = pre;
    google::protobuf::Empty empty;
    return lease_stub().DeleteLease(&ctx, req, &empty);
  }
  // A status write of the current GPU `index` that sets `type` True (added
  // when missing), without a precondition.
  grpc::Status SetTrue(int index, const std::string& type) {
    v1::Gpu gpu = Current(index);
    gpu.mutable_metadata()->clear_resource_version();
    if (Find(gpu, type) == nullptr) gpu.mutable_status()->add_conditions()->set_type(type);
    return UpdateStatus(WithCondition(gpu, type, "True"));
  }
};

// Objects kept in memory, except that commits can be made to fail as on a
// full disk (S26): the next one, or all of them while `failing`.
class FaultyBackend final : public store::Backend {
 public:
  store::Result<Snapshot> Load() override { return Snapshot{}; }
  store::Result<bool> Commit(const std::vector<store::Event>&, store::Revision) override {
    if (fail_next.exchange(false) || failing.load()) {
      failures.fetch_add(1);
      return store::MakeError(store::ErrorCode::kUnavailable, "state.db: database or disk is full");
    }
    return true;
  }
  bool Durable() const override { return true; }
  const char* Name() const override { return "faulty"; }
  std::atomic<bool> fail_next{false}, failing{false};
  std::atomic<int> failures{0};
};

// Objects kept in memory; each commit takes `delay_ms` (a slow disk).
class SlowBackend final : public store::Backend {
 public:
  store::Result<Snapshot> Load() override { return Snapshot{}; }
  store::Result<bool> Commit(const std::vector<store::Event>&, store::Revision) override {
    if (const int d = delay_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(d));
    return true;
  }
  bool Durable() const override { return true; }
  const char* Name() const override { return "slow"; }
  std::atomic<int> delay_ms{0};
};

// Another backend (a sqlite file, kept across restarts) whose commits take
// `delay_ms` first.
class DelayedBackend final : public store::Backend {
 public:
  explicit DelayedBackend(std::shared_ptr<store::Backend> inner) : inner_(std::move(inner)) {}
  store::Result<Snapshot> Load() override { return inner_->Load(); }
  store::Result<bool> Commit(const std::vector<store::Event>& events, store::Revision history_start) override {
    if (const int d = delay_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(d));
    return inner_->Commit(events, history_start);
  }
  bool Durable() const override { return inner_->Durable(); }
  const char* Name() const override { return "delayed"; }
  std::atomic<int> delay_ms{0};

 private:
  std::shared_ptr<store::Backend> inner_;
};

}  // namespace deviceapi::apiserver::testing
