// Fixed GPUs for golden tests: every field deterministic.
#pragma once

#include <google/protobuf/util/time_util.h>

#include "cli/format.h"

namespace deviceapi::cli {

// The pinned "now" of every golden test: 2026-01-02T03:04:05Z.
inline TimePoint GoldenNow() { return TimePoint(std::chrono::seconds(1767323045)); }

inline Gpu SampleGpu(int i, const std::string& ns, bool ready, long long age_s) {
  using google::protobuf::util::TimeUtil;
  Gpu g;
  auto* m = g.mutable_metadata();
  m->set_name("gpu-" + std::to_string(i));
  m->set_namespace_(ns);
  m->set_uid("0000000" + std::to_string(i) + "-aaaa-4bbb-8ccc-dddddddddddd");
  m->set_resource_version(std::to_string(1000 + i));
  m->set_generation(1);
  *m->mutable_creation_timestamp() = TimeUtil::SecondsToTimestamp(1767323045 - age_s);
  (*m->mutable_labels())["zone"] = i % 2 ? "b" : "a";
  (*m->mutable_labels())["nvidia.com/gpu.product"] = "H100";
  g.mutable_spec()->set_uuid("GPU-0000000" + std::to_string(i) + "-1111-2222-3333-444444444444");
  auto* st = g.mutable_status();
  auto* c = st->add_conditions();
  c->set_type("Ready");
  c->set_status(ready ? "True" : "False");
  c->set_reason(ready ? "DriverReady" : "XidCritical");
  c->set_message(ready ? "all checks passed" : "Xid 79: GPU has fallen off the bus");
  *c->mutable_last_transition_time() = TimeUtil::SecondsToTimestamp(1767323045 - age_s / 2);
  if (!ready) {
    st->set_recommended_action("RESET_GPU");
    auto* x = st->add_conditions();
    x->set_type("nvidia.com/XidErrors");
    x->set_status("True");
    x->set_reason("Xid79");
    *x->mutable_last_transition_time() = TimeUtil::SecondsToTimestamp(1767323045 - 42);
  }
  auto* d = st->mutable_device_info();
  d->set_product_name("NVIDIA H100 80GB HBM3");
  d->set_pci_bus_id("00000000:1" + std::to_string(i) + ":00.0");
  d->set_memory_total_bytes(85899345920ull);
  d->set_driver_version("550.54.15");
  d->set_architecture("Hopper");
  d->set_index(i);
  d->set_minor_number(i);
  return g;
}

inline std::vector<Gpu> SampleGpus() {
  return {SampleGpu(0, "default", true, 3 * 86400 + 7200), SampleGpu(1, "default", false, 330),
          SampleGpu(2, "team-a", true, 45)};
}

}  // namespace deviceapi::cli
