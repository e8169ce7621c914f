#include "bench/objects.h"

#include <cstdio>
#include <set>

namespace deviceapi::bench {

std::string GpuUuid(std::uint64_t index) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "GPU-%08llx-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(index & 0xffffffffULL),
                static_cast<unsigned long long>(index & 0xffffffffffffULL));
  return buf;
}

std::string GpuName(int index) { return GpuUuid(static_cast<std::uint64_t>(index)); }

void FillStatus(v1::GpuStatus* status, int conditions, std::uint64_t seq) {
  status->clear_conditions();
  for (int k = 0; k < conditions; ++k) {
    auto* c = status->add_conditions();
    if (k == 0) {
      c->set_type("BenchProbe");
      c->set_status("True");
      c->set_reason("BenchWrite");
      c->set_message("bench write " + std::to_string(seq));
    } else {
      c->set_type("BenchCond" + std::to_string(k));
      c->set_status("True");
      c->set_reason("BenchSteady");
      c->set_message("steady condition " + std::to_string(k));
    }
  }
}

v1::Gpu MakeGpu(const std::string& ns, const std::string& name, const std::string& uuid,
                int conditions, std::uint64_t seq) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_(ns);
  g.mutable_spec()->set_uuid(uuid);
  FillStatus(g.mutable_status(), conditions, seq);
  return g;
}

v1::UpdateGpuStatusRequest MakeStatusUpdate(const std::string& ns, int index, int conditions,
                                            std::uint64_t seq) {
  v1::UpdateGpuStatusRequest req;
  auto* g = req.mutable_gpu();
  g->mutable_metadata()->set_name(GpuName(index));
  g->mutable_metadata()->set_namespace_(ns);
  FillStatus(g->mutable_status(), conditions, seq);
  return req;
}

void NextStatusWrite(v1::UpdateGpuStatusRequest* req, int worker, int workers, std::uint64_t seq,
                     int gpus) {
  const auto w = static_cast<std::uint64_t>(worker);
  const int index = static_cast<int>((w + seq * static_cast<std::uint64_t>(workers)) %
                                     static_cast<std::uint64_t>(gpus));
  auto* g = req->mutable_gpu();
  g->mutable_metadata()->set_name(GpuName(index));
  g->mutable_status()->mutable_conditions(0)->set_message(
      "bench write " + std::to_string(worker) + "." + std::to_string(seq));
}

v1::WatchGpusRequest WatchRequest(const std::string& ns, const std::string& revision) {
  v1::WatchGpusRequest req;
  req.set_namespace_(ns);
  req.mutable_opts()->set_resource_version(revision);
  return req;
}

prhead::UpdateGpuStatusRequest ToPrHeadShape(const v1::UpdateGpuStatusRequest& req) {
  prhead::UpdateGpuStatusRequest old;
  old.set_name(req.gpu().metadata().name());
  old.set_resource_version(req.gpu().metadata().resource_version());
  *old.mutable_status() = req.gpu().status();
  if (req.has_opts()) *old.mutable_opts() = req.opts();
  return old;
}

std::string CurrentRevision(Connection& c, const std::string& ns, std::string* error) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ListGpusRequest req;
  req.set_namespace_(ns);
  v1::ListGpusResponse resp;
  auto s = c.gpus->ListGpus(&ctx, req, &resp);
  if (!s.ok()) {
    *error = "list: " + Describe(s);
    return "";
  }
  return resp.gpu_list().metadata().resource_version();
}

bool SeedGpus(Connection& c, const std::string& ns, int gpus, int conditions, std::string* error) {
  for (int i = 0; i < gpus; ++i) {
    {
      grpc::ClientContext ctx;
      SetDeadline(&ctx);
      v1::CreateGpuRequest req;
      *req.mutable_gpu() = MakeGpu(ns, GpuName(i), GpuName(i), conditions, 0);
      v1::Gpu out;
      auto s = c.gpus->CreateGpu(&ctx, req, &out);
      if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
        *error = "seed create " + GpuName(i) + ": " + Describe(s);
        return false;
      }
    }
    // Creates may ignore status (it is a subresource): set it explicitly.
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    auto req = MakeStatusUpdate(ns, i, conditions, 0);
    v1::Gpu out;
    auto s = c.UpdateGpuStatus(&ctx, req, &out);
    if (!s.ok()) {
      *error = "seed status " + GpuName(i) + ": " + Describe(s);
      return false;
    }
  }
  // Objects left by an earlier run with more GPUs would skew list figures.
  // Listing needs the server ready; before that there is nothing to prune
  // that matters, so a failed list is not an error here.
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ListGpusRequest lreq;
  lreq.set_namespace_(ns);
  v1::ListGpusResponse lresp;
  if (!c.gpus->ListGpus(&ctx, lreq, &lresp).ok()) return true;
  std::set<std::string> wanted;
  for (int i = 0; i < gpus; ++i) wanted.insert(GpuName(i));
  for (auto& g : lresp.gpu_list().items()) {
    if (wanted.count(g.metadata().name())) continue;
    grpc::ClientContext dctx;
    SetDeadline(&dctx);
    v1::DeleteGpuRequest dreq;
    dreq.set_name(g.metadata().name());
    dreq.set_namespace_(ns);
    google::protobuf::Empty empty;
    auto s = c.gpus->DeleteGpu(&dctx, dreq, &empty);
    if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
      *error = "prune " + g.metadata().name() + ": " + Describe(s);
      return false;
    }
  }
  return true;
}

}  // namespace deviceapi::bench
