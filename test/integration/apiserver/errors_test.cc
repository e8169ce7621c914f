// The contract's status-code table and hostile requests, through a real
// socket: every refusal has its code and a message naming the problem, the
// server keeps serving, and the stored state does not change.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <thread>

#include "apiserver/status_mapping.h"
#include "service_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

using grpc::StatusCode;

class ErrorsTest : public ServiceFixture {};

std::string CreateBytes(const v1::Gpu& gpu) {
  v1::CreateGpuRequest req;
  *req.mutable_gpu() = gpu;
  return req.SerializeAsString();
}

TEST_F(ErrorsTest, NotFoundAlreadyExistsAborted) {
  v1::Gpu created;
  ASSERT_TRUE(Create(MakeGpu(1), &created).ok());
  // ALREADY_EXISTS
  auto s = Create(MakeGpu(1));
  EXPECT_EQ(s.error_code(), StatusCode::ALREADY_EXISTS) << s.error_message();
  // NOT_FOUND for every single-object call.
  EXPECT_EQ(Get(UuidFor(2), "", nullptr).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(Get(UuidFor(1), "other", nullptr).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(Update(MakeGpu(2)).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(UpdateStatus(MakeGpu(2)).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete(UuidFor(2)).error_code(), StatusCode::NOT_FOUND);
  // ABORTED (S5): stale resource_version on update, status update, delete.
  v1::Gpu stale = created;
  v1::Gpu updated;
  stale.mutable_status()->set_recommended_action("RESET_GPU");
  ASSERT_TRUE(UpdateStatus(stale, &updated).ok());
  s = UpdateStatus(stale);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED) << s.error_message();
  (*stale.mutable_metadata()->mutable_labels())["x"] = "y";
  EXPECT_EQ(Update(stale).error_code(), StatusCode::ABORTED);
  v1::Preconditions pre;
  pre.set_resource_version(created.metadata().resource_version());
  EXPECT_EQ(Delete(UuidFor(1), "", &pre).error_code(), StatusCode::ABORTED);
  pre.Clear();
  pre.set_uid("not-the-uid");
  s = Delete(UuidFor(1), "", &pre);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);
  EXPECT_NE(s.error_message().find("uid"), std::string::npos);
  // Matching preconditions delete.
  pre.set_uid(created.metadata().uid());
  pre.set_resource_version(updated.metadata().resource_version());
  EXPECT_TRUE(Delete(UuidFor(1), "", &pre).ok());
}

TEST_F(ErrorsTest, OutOfRangeTooLargeAndTooOldS9S14) {
  ServerSetup setup;
  setup.store.future_revision_wait = std::chrono::milliseconds(100);
  setup.store.history_max_events = 4;
  StartServer(setup);
  v1::Gpu gpu;
  ASSERT_TRUE(Create(MakeGpu(1), &gpu).ok());
  const std::uint64_t first = std::stoull(gpu.metadata().resource_version());
  // S9: a resource_version above the current one -> "too large resource version".
  auto s = Get(UuidFor(1), "", nullptr, std::to_string(first + 1000));
  EXPECT_EQ(s.error_code(), StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message().rfind("too large resource version", 0), 0u) << s.error_message();
  v1::ListGpusRequest list;
  list.mutable_opts()->set_resource_version(std::to_string(first + 1000));
  EXPECT_EQ(List(list, nullptr).error_code(), StatusCode::OUT_OF_RANGE);
  // Push the first revision out of the history.
  for (int i = 0; i < 10; ++i) {
    gpu.mutable_status()->set_recommended_action("A" + std::to_string(i));
    gpu.mutable_metadata()->clear_resource_version();
    ASSERT_TRUE(UpdateStatus(gpu).ok());
  }
  // S9 Exact on an expired revision; S14 watch from it.
  list.mutable_opts()->set_resource_version(std::to_string(first));
  list.mutable_opts()->set_resource_version_match("Exact");
  s = List(list, nullptr);
  EXPECT_EQ(s.error_code(), StatusCode::OUT_OF_RANGE) << s.error_message();
  EXPECT_EQ(s.error_message().rfind("too old resource version", 0), 0u) << s.error_message();
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::WatchGpusRequest wreq;
  wreq.mutable_opts()->set_resource_version(std::to_string(first));
  auto reader = stub().WatchGpus(&ctx, wreq);
  v1::WatchGpusResponse ev;
  EXPECT_FALSE(reader->Read(&ev));
  s = reader->Finish();
  EXPECT_EQ(s.error_code(), StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message().rfind("too old resource version", 0), 0u) << s.error_message();
}

// S9, S20, S32: a read that would be refused is refused at once with its
// own error, also when it names a revision the store has not reached: it
// neither waits for that revision nor answers "too large resource version"
// after the wait, and it holds no waiter meanwhile.
TEST_F(ErrorsTest, InvalidReadsAtAFutureRevisionAreRefusedAtOnceS9S20S32) {
  ServerSetup setup;
  setup.store.future_revision_wait = std::chrono::seconds(3);
  StartServer(setup);
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  const std::string future = "99999999999999999";
  const auto start = std::chrono::steady_clock::now();
  auto s = Get("BAD_NAME", "", nullptr, future);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  v1::ListGpusRequest list;
  list.mutable_opts()->set_resource_version(future);
  list.mutable_opts()->set_label_selector("a b c");
  s = List(list, nullptr);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  list.set_namespace_("Not_A_Namespace");
  list.mutable_opts()->clear_label_selector();
  s = List(list, nullptr);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  for (const char* match : {"Exact", "NoSuchMatch"}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::WatchGpusRequest wreq;
    wreq.mutable_opts()->set_resource_version(future);
    wreq.mutable_opts()->set_resource_version_match(match);
    auto reader = stub().WatchGpus(&ctx, wreq);
    v1::WatchGpusResponse ev;
    EXPECT_FALSE(reader->Read(&ev));
    s = reader->Finish();
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << match << ": " << s.error_message();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << "a refused read waited";
  // A valid read at that revision still waits, then answers OUT_OF_RANGE (S9).
  s = Get(UuidFor(1), "", nullptr, future);
  EXPECT_EQ(s.error_code(), StatusCode::OUT_OF_RANGE) << s.error_message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(ErrorsTest, ResourceExhaustedLimitsS19) {
  ServerSetup setup;
  setup.store.max_objects = 2;
  setup.store.max_watchers = 1;
  StartServer(setup);
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  ASSERT_TRUE(Create(MakeGpu(2)).ok());
  auto s = Create(MakeGpu(3));
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // Conditions per object.
  v1::Gpu gpu;
  ASSERT_TRUE(Get(UuidFor(1), "", &gpu).ok());
  for (int i = 0; i < 40; ++i) {
    auto* c = gpu.mutable_status()->add_conditions();
    c->set_type("Extra" + std::to_string(i));
    c->set_status("True");
  }
  s = UpdateStatus(gpu);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("gpu.status.conditions: must have at most 32"),
            std::string::npos)
      << s.error_message();
  // Concurrent watchers.
  grpc::ClientContext c1, c2;
  c1.set_deadline(Deadline());
  c2.set_deadline(Deadline());
  v1::WatchGpusRequest wreq;
  auto r1 = stub().WatchGpus(&c1, wreq);
  v1::WatchGpusResponse ev;
  ASSERT_TRUE(r1->Read(&ev));  // first watch is live
  auto r2 = stub().WatchGpus(&c2, wreq);
  EXPECT_FALSE(r2->Read(&ev));
  EXPECT_EQ(r2->Finish().error_code(), StatusCode::RESOURCE_EXHAUSTED);
  c1.TryCancel();
  while (r1->Read(&ev)) {
  }
  r1->Finish();
}

// S21: reads before ready are UNAVAILABLE; writes are accepted.
TEST_F(ErrorsTest, NotReadyReadsUnavailableWritesAcceptedS21) {
  ServerSetup setup;
  setup.min_gpus = 2;
  setup.grace = std::chrono::hours(1);
  StartServer(setup);
  auto s = Get(UuidFor(1), "", nullptr);
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "not ready: waiting for providers");
  EXPECT_EQ(List({}, nullptr).error_code(), StatusCode::UNAVAILABLE);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    auto reader = stub().WatchGpus(&ctx, {});
    v1::WatchGpusResponse ev;
    EXPECT_FALSE(reader->Read(&ev));
    s = reader->Finish();
    EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message(), "not ready: waiting for providers");
  }
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  EXPECT_EQ(List({}, nullptr).error_code(), StatusCode::UNAVAILABLE);  // 1 of 2
  ASSERT_TRUE(Create(MakeGpu(2)).ok());
  v1::GpuList list;
  ASSERT_TRUE(List({}, &list).ok());
  EXPECT_EQ(list.items_size(), 2);
}

TEST_F(ErrorsTest, StorageNotLoadedIsNotReadyS21) {
  ServerSetup setup;
  setup.storage_loaded = false;
  StartServer(setup);
  EXPECT_EQ(List({}, nullptr).error_code(), StatusCode::UNAVAILABLE);
  readiness().MarkStorageLoaded();
  EXPECT_TRUE(List({}, nullptr).ok());
}

// S18/S22: after shutdown every call is UNAVAILABLE.
TEST_F(ErrorsTest, ShutdownIsUnavailableS22) {
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  store().Shutdown();
  EXPECT_EQ(Get(UuidFor(1), "", nullptr).error_code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(Create(MakeGpu(2)).error_code(), StatusCode::UNAVAILABLE);
  readiness().BeginShutdown();
  auto s = Create(MakeGpu(3));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "server shutting down");
}

// A backend that fails every commit with a detail that must stay private.
class FailingBackend final : public store::Backend {
 public:
  store::Result<Snapshot> Load() override { return Snapshot{}; }
  store::Result<bool> Commit(const std::vector<store::Event>&, store::Revision) override {
    return store::MakeError(store::ErrorCode::kInternal,
                            "/var/lib/device-api/state.db: SQLITE_IOERR disk I/O error");
  }
  const char* Name() const override { return "failing"; }
};

// S23: internal errors reach the client as INTERNAL "internal error" only.
TEST_F(ErrorsTest, InternalErrorHidesDetailS23) {
  ServerSetup setup;
  setup.store.backend = std::make_shared<FailingBackend>();
  StartServer(setup);
  auto s = Create(MakeGpu(1));
  EXPECT_EQ(s.error_code(), StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message(), "internal error");
  EXPECT_EQ(s.error_details(), "");
  EXPECT_EQ(service().Stats().internal_errors, 1u);
  // The failed write left nothing behind.
  v1::GpuList list;
  ASSERT_TRUE(List({}, &list).ok());
  EXPECT_EQ(list.items_size(), 0);
}

// A backend whose storage is gone (disk full, read-only, I/O error).
class UnavailableBackend final : public store::Backend {
 public:
  store::Result<Snapshot> Load() override { return Snapshot{}; }
  store::Result<bool> Commit(const std::vector<store::Event>&, store::Revision) override {
    return store::MakeError(store::ErrorCode::kUnavailable, "/var/lib/x/state.db: database or disk is full");
  }
  bool Durable() const override { return true; }
  const char* Name() const override { return "unavailable"; }
};

// S26: a write that cannot be committed answers UNAVAILABLE "storage
// unavailable", changes nothing and keeps the file path to the log.
TEST_F(ErrorsTest, StorageFaultIsUnavailableAndChangesNothingS26) {
  ServerSetup setup;
  setup.store.backend = std::make_shared<UnavailableBackend>();
  StartServer(setup);
  auto s = Create(MakeGpu(1));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "storage unavailable");
  v1::GpuList list;
  ASSERT_TRUE(List({}, &list).ok());  // reads keep serving
  EXPECT_EQ(list.items_size(), 0);
  EXPECT_EQ(store().Stats().creates, 0u);
}

struct Hostile {
  const char* what;
  const char* method;
  std::string bytes;
  StatusCode code;
  const char* message;  // expected substring
};

std::vector<Hostile> HostileRequests() {
  std::vector<Hostile> out;
  auto gpu = ServiceFixture::MakeGpu(7);
  out.push_back({"garbage bytes", "CreateGpu", "\xff\xff\xff\xff", StatusCode::INVALID_ARGUMENT,
                 "malformed request"});
  {
    std::string full = CreateBytes(gpu);
    out.push_back({"truncated message", "CreateGpu", full.substr(0, full.size() - 5),
                   StatusCode::INVALID_ARGUMENT, "malformed request"});
  }
  out.push_back({"length beyond end", "CreateGpu", std::string("\x0a\x7f\x0a\x02", 4),
                 StatusCode::INVALID_ARGUMENT, "malformed request"});
  out.push_back({"wrong wire type for gpu (varint)", "CreateGpu", std::string("\x08\x01", 2),
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.name: Required value"});
  out.push_back({"missing gpu", "CreateGpu", "", StatusCode::INVALID_ARGUMENT,
                 "gpu.metadata.name: Required value"});
  out.push_back({"missing gpu on update", "UpdateGpu", "", StatusCode::INVALID_ARGUMENT,
                 "gpu.metadata.name: Required value"});
  out.push_back({"missing name on status update", "UpdateGpuStatus", "",
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.name: Required value"});
  {
    v1::CreateGpuRequest req;
    *req.mutable_gpu() = gpu;
    req.mutable_gpu()->mutable_metadata()->set_name("bad\xff\xfe");
    out.push_back({"invalid UTF-8 in name", "CreateGpu", req.SerializeAsString(),
                   StatusCode::INVALID_ARGUMENT, "malformed request"});
  }
  auto with = [&](auto mutate) {
    v1::Gpu g = gpu;
    mutate(&g);
    return CreateBytes(g);
  };
  out.push_back({"oversized name", "CreateGpu",
                 with([](v1::Gpu* g) { g->mutable_metadata()->set_name(std::string(254, 'a')); }),
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.name: must be no more than 253"});
  out.push_back({"huge name (1 MiB)", "CreateGpu",
                 with([](v1::Gpu* g) { g->mutable_metadata()->set_name(std::string(1 << 20, 'a')); }),
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.name"});
  out.push_back({"uppercase name", "CreateGpu",
                 with([](v1::Gpu* g) { g->mutable_metadata()->set_name("MyGpu"); }),
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.name"});
  out.push_back({"path traversal name", "CreateGpu",
                 with([](v1::Gpu* g) { g->mutable_metadata()->set_name("../../etc/passwd"); }),
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.name"});
  out.push_back({"uppercase-hex UUID name", "CreateGpu",
                 with([](v1::Gpu* g) {
                   g->mutable_metadata()->set_name("GPU-0000000A-0000-4000-8000-00000000000A");
                 }),
                 StatusCode::INVALID_ARGUMENT, "lowercase"});
  out.push_back({"bad namespace", "CreateGpu",
                 with([](v1::Gpu* g) { g->mutable_metadata()->set_namespace_("Kube_System"); }),
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.namespace"});
  out.push_back({"bad spec uuid", "CreateGpu",
                 with([](v1::Gpu* g) { g->mutable_spec()->set_uuid("GPU-nothex"); }),
                 StatusCode::INVALID_ARGUMENT, "gpu.spec.uuid"});
  out.push_back({"resource_version on create", "CreateGpu",
                 with([](v1::Gpu* g) { g->mutable_metadata()->set_resource_version("1"); }),
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.resource_version"});
  out.push_back({"bad condition type at index 3", "CreateGpu", with([](v1::Gpu* g) {
                   for (int i = 0; i < 3; ++i) {
                     auto* c = g->mutable_status()->add_conditions();
                     c->set_type("T" + std::to_string(i));
                     c->set_status("True");
                   }
                   g->mutable_status()->mutable_conditions(3)->set_type("not camel");
                 }),
                 StatusCode::INVALID_ARGUMENT, "gpu.status.conditions[3].type: must be CamelCase"});
  out.push_back({"duplicate condition type", "CreateGpu", with([](v1::Gpu* g) {
                   *g->mutable_status()->add_conditions() = g->status().conditions(0);
                 }),
                 StatusCode::INVALID_ARGUMENT, "duplicate condition type"});
  out.push_back({"bad condition status", "CreateGpu", with([](v1::Gpu* g) {
                   g->mutable_status()->mutable_conditions(0)->set_status("yes");
                 }),
                 StatusCode::INVALID_ARGUMENT, "gpu.status.conditions[0].status"});
  out.push_back({"10000 conditions", "CreateGpu", with([](v1::Gpu* g) {
                   for (int i = 0; i < 10000; ++i) {
                     auto* c = g->mutable_status()->add_conditions();
                     c->set_type("C" + std::to_string(i));
                     c->set_status("True");
                   }
                 }),
                 StatusCode::RESOURCE_EXHAUSTED, "gpu.status.conditions: must have at most 32"});
  out.push_back({"condition message over 32 KiB", "CreateGpu", with([](v1::Gpu* g) {
                   g->mutable_status()->mutable_conditions(0)->set_message(
                       std::string((32 << 10) + 1, 'x'));
                 }),
                 StatusCode::RESOURCE_EXHAUSTED, "gpu.status.conditions[0].message"});
  out.push_back({"bad label", "CreateGpu", with([](v1::Gpu* g) {
                   (*g->mutable_metadata()->mutable_labels())["bad key!"] = "v";
                 }),
                 StatusCode::INVALID_ARGUMENT, "gpu.metadata.labels["});
  out.push_back({"request over 4 MiB", "CreateGpu", with([](v1::Gpu* g) {
                   (*g->mutable_metadata()->mutable_annotations())["a"] = std::string(5 << 20, 'x');
                 }),
                 StatusCode::RESOURCE_EXHAUSTED, ""});
  auto get = [](const std::string& name, const std::string& ns, const std::string& rv) {
    v1::GetGpuRequest req;
    req.set_name(name);
    req.set_namespace_(ns);
    req.mutable_opts()->set_resource_version(rv);
    return req.SerializeAsString();
  };
  const std::string name = ServiceFixture::UuidFor(1);
  out.push_back({"get: empty name", "GetGpu", get("", "", ""), StatusCode::INVALID_ARGUMENT,
                 "name: Required value"});
  out.push_back({"get: bad namespace", "GetGpu", get(name, "NS", ""),
                 StatusCode::INVALID_ARGUMENT, "namespace"});
  for (const char* rv : {"abc", "-1", "18446744073709551616", "1e3", " 5"}) {
    out.push_back({"get: bad resource_version", "GetGpu", get(name, "", rv),
                   StatusCode::INVALID_ARGUMENT, "opts.resource_version"});
  }
  auto list = [](const std::string& ns, auto mutate) {
    v1::ListGpusRequest req;
    req.set_namespace_(ns);
    mutate(req.mutable_opts());
    return req.SerializeAsString();
  };
  for (const char* sel : {"a in (b", "a=b=c", "!", "a,", "a in b", "=v"}) {
    out.push_back({"list: bad selector", "ListGpus",
                   list("", [sel](v1::ListOptions* o) { o->set_label_selector(sel); }),
                   StatusCode::INVALID_ARGUMENT, "opts.label_selector"});
  }
  out.push_back({"list: bad match", "ListGpus",
                 list("", [](v1::ListOptions* o) {
                   o->set_resource_version("1");
                   o->set_resource_version_match("Newest");
                 }),
                 StatusCode::INVALID_ARGUMENT, "opts.resource_version_match"});
  out.push_back({"list: Exact without resource_version", "ListGpus",
                 list("", [](v1::ListOptions* o) { o->set_resource_version_match("Exact"); }),
                 StatusCode::INVALID_ARGUMENT, "opts.resource_version_match"});
  out.push_back({"list: bad namespace", "ListGpus", list("a.b", [](v1::ListOptions*) {}),
                 StatusCode::INVALID_ARGUMENT, "namespace"});
  out.push_back({"list: bad resource_version", "ListGpus",
                 list("", [](v1::ListOptions* o) { o->set_resource_version("12abc"); }),
                 StatusCode::INVALID_ARGUMENT, "opts.resource_version"});
  {
    v1::DeleteGpuRequest req;
    req.set_name(name);
    req.mutable_opts()->mutable_preconditions()->set_resource_version("x");
    out.push_back({"delete: bad precondition resource_version", "DeleteGpu",
                   req.SerializeAsString(), StatusCode::INVALID_ARGUMENT,
                   "opts.preconditions.resource_version"});
    req.Clear();
    out.push_back({"delete: empty name", "DeleteGpu", req.SerializeAsString(),
                   StatusCode::INVALID_ARGUMENT, "name: Required value"});
  }
  {
    v1::UpdateGpuRequest req;
    *req.mutable_gpu() = ServiceFixture::MakeGpu(1);
    req.mutable_gpu()->mutable_metadata()->set_resource_version("-7");
    out.push_back({"update: bad resource_version", "UpdateGpu", req.SerializeAsString(),
                   StatusCode::INVALID_ARGUMENT, "gpu.metadata.resource_version"});
  }
  {
    // A patch echoes no more of its document than a bounded quote (S19).
    const std::string huge(1 << 20, 'x');
    auto patch = [&](const std::string& data, const std::string& subresource) {
      v1::PatchGpuRequest req;
      req.set_name(name);
      req.set_patch_type("application/merge-patch+json");
      req.set_data(data);
      req.set_subresource(subresource);
      return req.SerializeAsString();
    };
    out.push_back({"patch: 1 MiB unknown field", "PatchGpu",
                   patch(R"({"status":{")" + huge + R"(":null}})", "status"), StatusCode::INVALID_ARGUMENT,
                   "no such field"});
    out.push_back({"patch: 1 MiB directive", "PatchGpu",
                   patch(R"({"status":{"$)" + huge + R"(":1}})", "status"), StatusCode::INVALID_ARGUMENT,
                   "unsupported directive"});
    out.push_back({"patch: 1 MiB label key above a directive", "PatchGpu",
                   patch(R"({"metadata":{"labels":{")" + huge + R"(":{"$x":1}}}})", ""),
                   StatusCode::INVALID_ARGUMENT, "unsupported directive"});
    out.push_back({"patch: 1 MiB string for an integer", "PatchGpu",
                   patch(R"({"status":{"conditions":[{"type":"NVMLReady","observedGeneration":")" + huge +
                             R"("}]}})",
                         "status"),
                   StatusCode::INVALID_ARGUMENT, "invalid patch"});
    out.push_back({"patch: 1 MiB key for a string", "PatchGpu",
                   patch(R"({"spec":{"uuid":{")" + huge + R"(":1}}})", ""), StatusCode::INVALID_ARGUMENT,
                   "invalid patch"});
    out.push_back({"patch: 1 MiB label key of the wrong type", "PatchGpu",
                   patch(R"({"metadata":{"labels":{")" + huge + R"(":1}}})", ""), StatusCode::INVALID_ARGUMENT,
                   "invalid patch"});
    v1::DeleteGpuRequest del;
    del.set_name(name);
    del.mutable_opts()->mutable_preconditions()->set_uid(huge);
    out.push_back({"delete: 1 MiB precondition uid", "DeleteGpu", del.SerializeAsString(), StatusCode::ABORTED,
                   "precondition failed: uid"});
  }
  return out;
}

TEST_F(ErrorsTest, HostileRequestsTableS19S20) {
  v1::Gpu existing;
  ASSERT_TRUE(Create(MakeGpu(1), &existing).ok());
  const std::string before = Snapshot();
  for (const auto& h : HostileRequests()) {
    auto s = RawCall(h.method, h.bytes);
    EXPECT_EQ(s.error_code(), h.code) << h.what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(h.message), std::string::npos)
        << h.what << ": " << s.error_message();
    EXPECT_LT(s.error_message().size(), 2048u) << h.what;  // no echo of huge input
    // The server keeps serving after each.
    ASSERT_TRUE(Get(UuidFor(1), "", nullptr).ok()) << "after " << h.what;
  }
  EXPECT_EQ(Snapshot(), before);  // nothing stored, no revision taken
  // Still fully functional.
  EXPECT_TRUE(Create(MakeGpu(2)).ok());
}

TEST_F(ErrorsTest, HostileWatchOptionsS20) {
  const std::string before = Snapshot();
  std::vector<std::pair<const char*, std::function<void(v1::ListOptions*)>>> cases = {
      {"opts.resource_version", [](v1::ListOptions* o) { o->set_resource_version("abc"); }},
      {"opts.label_selector", [](v1::ListOptions* o) { o->set_label_selector("a in ("); }},
      {"opts.timeout_seconds", [](v1::ListOptions* o) { o->set_timeout_seconds(-1); }},
      {"opts.resource_version_match",
       [](v1::ListOptions* o) { o->set_resource_version_match("Exact"); }},
  };
  for (const auto& [field, mutate] : cases) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::WatchGpusRequest req;
    mutate(req.mutable_opts());
    auto reader = stub().WatchGpus(&ctx, req);
    v1::WatchGpusResponse ev;
    EXPECT_FALSE(reader->Read(&ev));
    auto s = reader->Finish();
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_EQ(s.error_message().rfind(field, 0), 0u) << s.error_message();
  }
  // A garbage watch request.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    grpc::GenericStub generic(channel());
    grpc::CompletionQueue cq;
    // Use the raw unary helper's encoding through a streaming call: build it by hand.
    auto call = generic.PrepareCall(&ctx, "/nvidia.nvsentinel.v1alpha1.GpuService/WatchGpus", &cq);
    call->StartCall(reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    grpc::Slice slice(std::string("\xff\xff\xff", 3));
    grpc::ByteBuffer garbage(&slice, 1);
    call->Write(garbage, reinterpret_cast<void*>(2));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    call->WritesDone(reinterpret_cast<void*>(3));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    grpc::ByteBuffer resp;
    call->Read(&resp, reinterpret_cast<void*>(4));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_FALSE(ok);
    grpc::Status s;
    call->Finish(&s, reinterpret_cast<void*>(5));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_NE(s.error_message().find("malformed request"), std::string::npos);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
  EXPECT_EQ(Snapshot(), before);
}

// Unknown fields (a newer client, or junk) are accepted and dropped: never
// stored, never echoed.
TEST_F(ErrorsTest, UnknownFieldsAreDropped) {
  std::string bytes = CreateBytes(MakeGpu(3));
  // Top-level unknown field 99 (varint) and unknown field 50 inside Gpu: the
  // request's gpu is field 1, so append a second gpu chunk that merges in.
  bytes += std::string("\x98\x06\x01", 3);  // field 99, varint 1
  v1::Gpu extra_holder;
  std::string gpu_unknown = std::string("\x92\x03\x04junk", 7);  // field 50, "junk"
  bytes += std::string("\x0a", 1) + static_cast<char>(gpu_unknown.size()) + gpu_unknown;
  std::string response;
  auto s = RawCall("CreateGpu", bytes, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::Gpu created;
  ASSERT_TRUE(created.ParseFromString(response));
  EXPECT_EQ(created.GetReflection()->GetUnknownFields(created).field_count(), 0);
  EXPECT_EQ(response.find("junk"), std::string::npos);
  v1::Gpu got;
  ASSERT_TRUE(Get(UuidFor(3), "", &got).ok());
  EXPECT_EQ(got.SerializeAsString().find("junk"), std::string::npos);
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
