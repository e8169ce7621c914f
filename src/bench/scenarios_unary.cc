// Unary scenarios: noop (the transport's floor), get, list, create,
// update-status. Closed loop, --concurrency workers on one shared channel.
#include <unistd.h>

#include <atomic>

#include "bench/closed_loop.h"
#include "bench/objects.h"
#include "bench/scenarios.h"

namespace deviceapi::bench {

namespace {

LoopSpec SpecFor(const BenchContext& ctx, const std::string& name) {
  LoopSpec spec;
  spec.scenario = name;
  spec.op = name;
  spec.concurrency = ctx.options.concurrency;
  spec.warmup_s = ctx.options.warmup_s;
  spec.duration_s = ctx.options.duration_s;
  spec.requests = ctx.options.requests;
  spec.progress = ctx.options.progress;
  return spec;
}

// xorshift64: a cheap per-worker random GPU index.
struct Rng {
  std::uint64_t s;
  std::uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

}  // namespace

bool BenchContext::EnsureSeeded(std::string* error) {
  if (seeded_) return true;
  if (!SeedGpus(conn, options.namespace_name, options.gpus, options.conditions, error))
    return false;
  // Writes are accepted before the server is ready, reads are not (S21).
  if (!WaitServing(conn, std::chrono::seconds(30), error)) {
    *error = "server not ready after seeding: " + *error;
    return false;
  }
  // The prune in SeedGpus needs a ready server: seed again now that it is.
  if (!SeedGpus(conn, options.namespace_name, options.gpus, options.conditions, error))
    return false;
  seeded_ = true;
  return true;
}

Result Unavailable(const std::string& scenario, const std::string& why) {
  Result r;
  r.scenario = r.op = scenario;
  r.available = false;
  r.note = why;
  return r;
}

std::vector<Result> RunNoop(BenchContext& ctx) {
  return {RunClosedLoop(SpecFor(ctx, "noop"), [&](int) -> Operation {
    return [&](std::uint64_t, std::string* error, std::int64_t*) {
      return CheckServing(ctx.conn, std::chrono::seconds(10), error);
    };
  })};
}

std::vector<Result> RunGet(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return {Unavailable("get", "setup: " + error)};
  const int gpus = ctx.options.gpus;
  return {RunClosedLoop(SpecFor(ctx, "get"), [&](int w) -> Operation {
    auto rng = std::make_shared<Rng>(Rng{0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(w + 1)});
    auto req = std::make_shared<v1::GetGpuRequest>();
    req->set_namespace_(ctx.options.namespace_name);
    // One response per worker, parsed into again and again: protobuf keeps
    // its sub-objects, so the client's allocator stays out of the figures
    // (a client that keeps what it reads allocates anyway).
    auto resp = std::make_shared<v1::GetGpuResponse>();
    return [&, rng, req, resp](std::uint64_t, std::string* error, std::int64_t*) {
      req->set_name(GpuName(static_cast<int>(rng->Next() % static_cast<std::uint64_t>(gpus))));
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      auto s = ctx.conn.gpus->GetGpu(&cctx, *req, resp.get());
      if (!s.ok()) *error = Describe(s);
      return s.ok();
    };
  })};
}

std::vector<Result> RunList(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return {Unavailable("list", "setup: " + error)};
  Result r = RunClosedLoop(SpecFor(ctx, "list"), [&](int) -> Operation {
    return [&](std::uint64_t, std::string* error, std::int64_t*) {
      v1::ListGpusRequest req;
      req.set_namespace_(ctx.options.namespace_name);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      v1::ListGpusResponse resp;
      auto s = ctx.conn.gpus->ListGpus(&cctx, req, &resp);
      if (!s.ok()) {
        *error = Describe(s);
        return false;
      }
      if (resp.gpu_list().items_size() != ctx.options.gpus) {
        *error = "list returned " + std::to_string(resp.gpu_list().items_size()) + " items, want " +
                 std::to_string(ctx.options.gpus);
        return false;
      }
      return true;
    };
  });
  r.extra["gpus"] = ctx.options.gpus;
  r.extra["conditions"] = ctx.options.conditions;
  return {r};
}

std::vector<Result> RunCreate(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return {Unavailable("create", "setup: " + error)};
  static std::atomic<std::uint64_t> run{0};
  const std::uint64_t run_id = (static_cast<std::uint64_t>(getpid()) << 8) + run.fetch_add(1);
  Result r = RunClosedLoop(SpecFor(ctx, "create"), [&, run_id](int w) -> Operation {
    return [&, w, run_id](std::uint64_t seq, std::string* error, std::int64_t* latency_ns) {
      // A GPU UUID unique per run, worker and sequence number, never a
      // seeded GPU's (bit 47 set; the UUID keeps 48 bits).
      const std::uint64_t uuid_index = (1ULL << 47) | (((run_id + (run_id >> 8)) & 0x7f) << 40) |
                                       (static_cast<std::uint64_t>(w & 0xff) << 32) |
                                       (seq & 0xffffffffULL);
      const std::string name = GpuUuid(uuid_index);
      v1::CreateGpuRequest req;
      *req.mutable_gpu() = MakeGpu(ctx.options.namespace_name, name, name, ctx.options.conditions, seq);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      v1::Gpu out;
      std::int64_t t0 = NowNs();
      auto s = ctx.conn.gpus->CreateGpu(&cctx, req, &out);
      *latency_ns = NowNs() - t0;
      if (!s.ok()) {
        *error = Describe(s);
        return false;
      }
      // Unmeasured clean-up, so the store stays under its object limit.
      grpc::ClientContext dctx;
      SetDeadline(&dctx);
      v1::DeleteGpuRequest dreq;
      dreq.set_name(name);
      dreq.set_namespace_(ctx.options.namespace_name);
      google::protobuf::Empty empty;
      auto d = ctx.conn.gpus->DeleteGpu(&dctx, dreq, &empty);
      if (!d.ok()) {
        *error = "clean-up delete: " + Describe(d);
        return false;
      }
      return true;
    };
  });
  r.note = "ops/s counts create+delete pairs; latency is the create alone";
  return {r};
}

std::vector<Result> RunUpdateStatus(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return {Unavailable("update-status", "setup: " + error)};
  const int gpus = ctx.options.gpus, conc = ctx.options.concurrency;
  Result r = RunClosedLoop(SpecFor(ctx, "update-status"), [&](int w) -> Operation {
    auto req = std::make_shared<v1::UpdateGpuStatusRequest>(
        MakeStatusUpdate(ctx.options.namespace_name, 0, ctx.options.conditions, 0));
    auto out = std::make_shared<v1::Gpu>();  // reused, as in get
    return [&, w, req, out](std::uint64_t seq, std::string* error, std::int64_t*) {
      NextStatusWrite(req.get(), w, conc, seq, gpus);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      auto s = ctx.conn.UpdateGpuStatus(&cctx, *req, out.get());
      if (!s.ok()) *error = Describe(s);
      return s.ok();
    };
  });
  r.extra["conditions"] = ctx.options.conditions;
  return {r};
}

// The write update-status makes (condition 0's message), as a strategic
// merge patch of status that names only that condition (S31): the server
// merges it by type into the stored conditions, so the client sends one
// condition instead of all of them and needs no resource version.
std::vector<Result> RunPatchStatus(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return {Unavailable("patch-status", "setup: " + error)};
  const int gpus = ctx.options.gpus, conc = ctx.options.concurrency;
  auto patch_of = [&](int index, const std::string& message) {
    v1::PatchGpuRequest req;
    req.set_name(GpuName(index));
    req.set_namespace_(ctx.options.namespace_name);
    req.set_patch_type("application/strategic-merge-patch+json");
    req.set_subresource("status");
    req.set_data(R"({"status":{"conditions":[{"type":"BenchProbe","status":"True","reason":"BenchWrite","message":")" +
                 message + R"("}]}})");
    return req;
  };
  {
    grpc::ClientContext cctx;
    SetDeadline(&cctx);
    v1::Gpu out;
    auto s = ctx.conn.gpus->PatchGpu(&cctx, patch_of(0, "bench probe"), &out);
    if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      return {Unavailable("patch-status", "the server has no PatchGpu (an extension of the contract)")};
    }
    if (!s.ok()) return {Unavailable("patch-status", "setup: " + Describe(s))};
  }
  Result r = RunClosedLoop(SpecFor(ctx, "patch-status"), [&](int w) -> Operation {
    auto out = std::make_shared<v1::Gpu>();
    return [&, w, out](std::uint64_t seq, std::string* error, std::int64_t*) {
      const auto index = static_cast<int>((static_cast<std::uint64_t>(w) + seq * static_cast<std::uint64_t>(conc)) %
                                          static_cast<std::uint64_t>(gpus));
      const auto req = patch_of(index, "bench write " + std::to_string(w) + "." + std::to_string(seq));
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      auto s = ctx.conn.gpus->PatchGpu(&cctx, req, out.get());
      if (!s.ok()) *error = Describe(s);
      return s.ok();
    };
  });
  r.extra["conditions"] = ctx.options.conditions;
  r.note = "one condition of --conditions patched by type (strategic merge, subresource status)";
  return {r};
}

}  // namespace deviceapi::bench
