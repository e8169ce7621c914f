// Unary scenarios: noop (the transport's floor), get, list, create,
// update-status, patch-status. Closed loop, --concurrency workers on one
// shared channel; each alone, or several interleaved in one loop.
#include <unistd.h>

#include <atomic>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>

#include <google/protobuf/arena.h>

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
  spec.slice_s = ctx.options.slice_s;
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

// A unary scenario ready to run: its share of a loop and what it adds to
// its result afterwards; or, when it cannot run here, the row that says why.
struct Prepared {
  std::optional<Result> unavailable;
  LoopPart part;
  std::function<void(Result&)> finish = [](Result&) {};
};

Prepared Part(const std::string& name, WorkerFactory factory) {
  Prepared p;
  p.part = {name, name, std::move(factory)};
  return p;
}

Prepared CannotRun(const std::string& name, const std::string& why) {
  Prepared p;
  p.unavailable = Unavailable(name, why);
  return p;
}

// A worker's responses are parsed on an arena per call that starts in a
// block the worker keeps: parsing takes nothing from the heap and dropping
// the response frees nothing, so the client's allocator stays out of the
// figures. Reusing one response message does not do that: protobuf's
// Clear() deletes singular sub-messages, so every parse rebuilt the GPU.
class ResponseBlock {
 public:
  explicit ResponseBlock(std::size_t bytes) : block_(new char[bytes]), bytes_(bytes) {}
  // Options for this call's arena; what outgrows the block comes in blocks
  // of up to 1 MiB (a list of 1,024 GPUs parses into about 2 MB).
  google::protobuf::ArenaOptions Options() const {
    google::protobuf::ArenaOptions options;
    options.initial_block = block_.get();
    options.initial_block_size = bytes_;
    options.max_block_size = 1 << 20;
    return options;
  }

 private:
  std::unique_ptr<char[]> block_;
  std::size_t bytes_;
};

constexpr std::size_t kObjectResponseBlock = 64 << 10;

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

namespace {

Prepared PrepareNoop(BenchContext& ctx) {
  return Part("noop", [&ctx](int) -> Operation {
    return [&ctx](std::uint64_t, std::string* error, std::int64_t*) {
      return CheckServing(ctx.conn, std::chrono::seconds(10), error);
    };
  });
}

Prepared PrepareGet(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return CannotRun("get", "setup: " + error);
  const int gpus = ctx.options.gpus;
  return Part("get", [&ctx, gpus](int w) -> Operation {
    auto rng = std::make_shared<Rng>(Rng{0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(w + 1)});
    auto req = std::make_shared<v1::GetGpuRequest>();
    req->set_namespace_(ctx.options.namespace_name);
    auto block = std::make_shared<ResponseBlock>(kObjectResponseBlock);
    return [&ctx, gpus, rng, req, block](std::uint64_t, std::string* error, std::int64_t*) {
      req->set_name(GpuName(static_cast<int>(rng->Next() % static_cast<std::uint64_t>(gpus))));
      google::protobuf::Arena arena(block->Options());
      auto* resp = google::protobuf::Arena::CreateMessage<v1::GetGpuResponse>(&arena);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      auto s = ctx.conn.gpus->GetGpu(&cctx, *req, resp);
      if (!s.ok()) *error = Describe(s);
      return s.ok();
    };
  });
}

Prepared PrepareList(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return CannotRun("list", "setup: " + error);
  Prepared p = Part("list", [&ctx](int) -> Operation {
    auto block = std::make_shared<ResponseBlock>(std::size_t{4} << 20);
    return [&ctx, block](std::uint64_t, std::string* error, std::int64_t*) {
      v1::ListGpusRequest req;
      req.set_namespace_(ctx.options.namespace_name);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      google::protobuf::Arena arena(block->Options());
      auto& resp = *google::protobuf::Arena::CreateMessage<v1::ListGpusResponse>(&arena);
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
  p.finish = [gpus = ctx.options.gpus, conditions = ctx.options.conditions](Result& r) {
    r.extra["gpus"] = gpus;
    r.extra["conditions"] = conditions;
  };
  return p;
}

Prepared PrepareCreate(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return CannotRun("create", "setup: " + error);
  static std::atomic<std::uint64_t> run{0};
  const std::uint64_t run_id = (static_cast<std::uint64_t>(getpid()) << 8) + run.fetch_add(1);
  Prepared p = Part("create", [&ctx, run_id](int w) -> Operation {
    auto block = std::make_shared<ResponseBlock>(kObjectResponseBlock);
    return [&ctx, w, run_id, block](std::uint64_t seq, std::string* error, std::int64_t* latency_ns) {
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
      google::protobuf::Arena arena(block->Options());
      auto* out = google::protobuf::Arena::CreateMessage<v1::Gpu>(&arena);
      std::int64_t t0 = NowNs();
      auto s = ctx.conn.gpus->CreateGpu(&cctx, req, out);
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
  p.finish = [](Result& r) { r.note = "ops/s counts create+delete pairs; latency is the create alone"; };
  return p;
}

Prepared PrepareUpdateStatus(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return CannotRun("update-status", "setup: " + error);
  const int gpus = ctx.options.gpus, conc = ctx.options.concurrency;
  Prepared p = Part("update-status", [&ctx, gpus, conc](int w) -> Operation {
    auto req = std::make_shared<v1::UpdateGpuStatusRequest>(
        MakeStatusUpdate(ctx.options.namespace_name, 0, ctx.options.conditions, 0));
    auto block = std::make_shared<ResponseBlock>(kObjectResponseBlock);
    return [&ctx, gpus, conc, w, req, block](std::uint64_t seq, std::string* error, std::int64_t*) {
      NextStatusWrite(req.get(), w, conc, seq, gpus);
      google::protobuf::Arena arena(block->Options());
      auto* out = google::protobuf::Arena::CreateMessage<v1::Gpu>(&arena);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      auto s = ctx.conn.UpdateGpuStatus(&cctx, *req, out);
      if (!s.ok()) *error = Describe(s);
      return s.ok();
    };
  });
  p.finish = [conditions = ctx.options.conditions](Result& r) { r.extra["conditions"] = conditions; };
  return p;
}

// The write update-status makes (condition 0's message), as a strategic
// merge patch of status that names only that condition (S31): the server
// merges it by type into the stored conditions, so the client sends one
// condition instead of all of them and needs no resource version.
v1::PatchGpuRequest StatusPatch(const std::string& namespace_name, int index, const std::string& message) {
  v1::PatchGpuRequest req;
  req.set_name(GpuName(index));
  req.set_namespace_(namespace_name);
  req.set_patch_type("application/strategic-merge-patch+json");
  req.set_subresource("status");
  req.set_data(R"({"status":{"conditions":[{"type":"BenchProbe","status":"True","reason":"BenchWrite","message":")" +
               message + R"("}]}})");
  return req;
}

Prepared PreparePatchStatus(BenchContext& ctx) {
  std::string error;
  if (!ctx.EnsureSeeded(&error)) return CannotRun("patch-status", "setup: " + error);
  const int gpus = ctx.options.gpus, conc = ctx.options.concurrency;
  {
    grpc::ClientContext cctx;
    SetDeadline(&cctx);
    v1::Gpu out;
    auto s = ctx.conn.gpus->PatchGpu(&cctx, StatusPatch(ctx.options.namespace_name, 0, "bench probe"), &out);
    if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      return CannotRun("patch-status", "the server has no PatchGpu (an extension of the contract)");
    }
    if (!s.ok()) return CannotRun("patch-status", "setup: " + Describe(s));
  }
  Prepared p = Part("patch-status", [&ctx, gpus, conc](int w) -> Operation {
    auto block = std::make_shared<ResponseBlock>(kObjectResponseBlock);
    return [&ctx, gpus, conc, w, block](std::uint64_t seq, std::string* error, std::int64_t*) {
      const auto index = static_cast<int>((static_cast<std::uint64_t>(w) + seq * static_cast<std::uint64_t>(conc)) %
                                          static_cast<std::uint64_t>(gpus));
      const auto req = StatusPatch(ctx.options.namespace_name, index,
                                   "bench write " + std::to_string(w) + "." + std::to_string(seq));
      google::protobuf::Arena arena(block->Options());
      auto* out = google::protobuf::Arena::CreateMessage<v1::Gpu>(&arena);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      auto s = ctx.conn.gpus->PatchGpu(&cctx, req, out);
      if (!s.ok()) *error = Describe(s);
      return s.ok();
    };
  });
  p.finish = [conditions = ctx.options.conditions](Result& r) {
    r.extra["conditions"] = conditions;
    r.note = "one condition of --conditions patched by type (strategic merge, subresource status)";
  };
  return p;
}

using PrepareFn = Prepared (*)(BenchContext&);

// The unary scenarios, in the standard order: what --interleave accepts
// (InterleavableScenarios) and how each is prepared.
constexpr std::pair<const char*, PrepareFn> kUnaryScenarios[] = {
    {"noop", PrepareNoop},
    {"get", PrepareGet},
    {"list", PrepareList},
    {"create", PrepareCreate},
    {"update-status", PrepareUpdateStatus},
    {"patch-status", PreparePatchStatus},
};

PrepareFn PrepareFor(const std::string& scenario) {
  for (const auto& [name, prepare] : kUnaryScenarios)
    if (scenario == name) return prepare;
  throw std::invalid_argument("not a unary scenario: " + scenario);  // options refuse it first
}

std::vector<Result> RunAlone(BenchContext& ctx, Prepared p) {
  if (p.unavailable) return {*p.unavailable};
  Result r = RunClosedLoop(SpecFor(ctx, p.part.scenario), p.part.factory);
  p.finish(r);
  return {r};
}

}  // namespace

std::vector<Result> RunNoop(BenchContext& ctx) { return RunAlone(ctx, PrepareNoop(ctx)); }
std::vector<Result> RunGet(BenchContext& ctx) { return RunAlone(ctx, PrepareGet(ctx)); }
std::vector<Result> RunList(BenchContext& ctx) { return RunAlone(ctx, PrepareList(ctx)); }
std::vector<Result> RunCreate(BenchContext& ctx) { return RunAlone(ctx, PrepareCreate(ctx)); }
std::vector<Result> RunUpdateStatus(BenchContext& ctx) { return RunAlone(ctx, PrepareUpdateStatus(ctx)); }
std::vector<Result> RunPatchStatus(BenchContext& ctx) { return RunAlone(ctx, PreparePatchStatus(ctx)); }

const std::vector<std::string>& InterleavableScenarios() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const auto& entry : kUnaryScenarios) names.emplace_back(entry.first);
    return names;
  }();
  return kNames;
}

std::vector<Result> RunInterleaved(BenchContext& ctx, const std::vector<std::string>& scenarios) {
  std::vector<Result> results(scenarios.size());
  std::vector<Prepared> prepared;
  std::vector<std::size_t> slot;  // prepared[i] answers results[slot[i]]
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    Prepared p = PrepareFor(scenarios[i])(ctx);
    if (p.unavailable) {
      results[i] = *p.unavailable;
      continue;
    }
    prepared.push_back(std::move(p));
    slot.push_back(i);
  }
  if (prepared.empty()) return results;
  std::vector<LoopPart> parts;
  for (auto& p : prepared) parts.push_back(p.part);
  LoopSpec timing = SpecFor(ctx, "interleaved");
  std::vector<Result> ran = RunInterleavedLoop(timing, parts);
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    prepared[i].finish(ran[i]);
    ran[i].extra["interleaved"] = true;
    results[slot[i]] = std::move(ran[i]);
  }
  return results;
}

}  // namespace deviceapi::bench
