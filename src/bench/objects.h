// The bench's GPU objects: names, UUIDs, statuses with N conditions, and
// seeding a namespace with exactly the requested set.
#pragma once

#include <cstdint>
#include <string>

#include "bench/connection.h"
#include "pr_head_shape.pb.h"

namespace deviceapi::bench {

// "GPU-0000002a-0000-4000-8000-00000000002a": lowercase hex, as NVML reports it.
std::string GpuUuid(std::uint64_t index);
// Seeded GPU `index`: its name is its UUID (spec.uuid holds the same), as a
// provider names the GPUs it publishes. Servers of the base contract may
// require that (NVSentinel's accepts only GPU-UUID names).
std::string GpuName(int index);

// `conditions` conditions: BenchProbe (message carries `seq`, so each write
// is a real change and takes a revision, S1) then BenchCond1..N-1.
void FillStatus(v1::GpuStatus* status, int conditions, std::uint64_t seq);

v1::Gpu MakeGpu(const std::string& ns, const std::string& name, const std::string& uuid,
                int conditions, std::uint64_t seq);

// Status-only write of GPU `index` (unconditional: empty resource_version).
v1::UpdateGpuStatusRequest MakeStatusUpdate(const std::string& ns, int index, int conditions,
                                            std::uint64_t seq);

// Turns `req` (from MakeStatusUpdate) into write `seq` of writer `worker`
// of `workers`: writer w owns GPUs w, w+workers, w+2*workers... (writers
// never contend on one object), and the probe message names the write, so
// every write is a real change (S1).
void NextStatusWrite(v1::UpdateGpuStatusRequest* req, int worker, int workers, std::uint64_t seq,
                     int gpus);

// A watch of `ns` from `revision` ("": from now). Like every request the
// bench builds, it sets fields of the base contract only.
v1::WatchGpusRequest WatchRequest(const std::string& ns, const std::string& revision);

// `req` in the PR-head shape (pr_head_shape.proto): name, status,
// resource_version and opts; its namespace has no field there.
prhead::UpdateGpuStatusRequest ToPrHeadShape(const v1::UpdateGpuStatusRequest& req);

// Makes `ns` hold exactly GPUs 0..gpus-1, each with `conditions`
// conditions (creating, updating and deleting as needed). Returns false
// with the first error.
bool SeedGpus(Connection& c, const std::string& ns, int gpus, int conditions, std::string* error);

// ListGpus of `ns`: the list's resource_version, or "" with `error`.
std::string CurrentRevision(Connection& c, const std::string& ns, std::string* error);

}  // namespace deviceapi::bench
