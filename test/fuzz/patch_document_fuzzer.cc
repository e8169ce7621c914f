// Fuzzes PatchGpu's documents (apiserver/gpu_patch.h): ParsePatch, which
// bounds and checks a document before the store's lock, and ApplyPatch,
// which applies it to the stored GPU under the lock.
//
// Input: [mode: 1 byte][document: the rest]. The mode's low bit picks merge
// (RFC 7386) or strategic merge, the next bit the main part or "status".
// The document is applied to one fixed GPU with labels, annotations, a spec
// and three conditions.
//
// Oracles, besides sanitizers and exceptions (one escaping here would end
// the server's call): a refusal is never INTERNAL and says why; a merge
// patch is idempotent (RFC 7386): applied again to its own result it changes
// nothing.
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "apiserver/gpu_patch.h"
#include "device_api.pb.h"

namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;
using deviceapi::apiserver::ApplyPatch;
using deviceapi::apiserver::ParsePatch;

[[noreturn]] void Fail(const std::string& what, const std::string& document) {
  std::fprintf(stderr, "%s\n--- document:\n%s\n", what.c_str(), document.c_str());
  std::abort();
}

const v1::Gpu& Stored() {
  static const v1::Gpu* gpu = [] {
    auto* g = new v1::Gpu();
    auto* meta = g->mutable_metadata();
    meta->set_name("gpu-0");
    meta->set_namespace_("default");
    meta->set_uid("0b5f8a3e-1111-2222-3333-444444444444");
    meta->set_resource_version("1001");
    meta->set_generation(1);
    (*meta->mutable_labels())["zone"] = "a";
    (*meta->mutable_annotations())["note"] = "x";
    g->mutable_spec()->set_uuid("GPU-11111111-2222-3333-4444-555555555555");
    for (const char* type : {"Ready", "NVMLReady", "example.com/Fans"}) {
      auto* c = g->mutable_status()->add_conditions();
      c->set_type(type);
      c->set_status("True");
      c->set_reason("Healthy");
      c->mutable_last_transition_time()->set_seconds(1700000000);
    }
    return g;
  }();
  return *gpu;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool strategic = data[0] & 1;
  const std::string subresource = (data[0] & 2) ? "status" : "";
  const std::string document(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string type = strategic ? deviceapi::apiserver::kStrategicMergePatchType
                                     : deviceapi::apiserver::kMergePatchType;
  auto patch = ParsePatch(type, document, subresource);
  if (!patch.ok()) {
    if (patch.error().code == deviceapi::store::ErrorCode::kInternal)
      Fail("ParsePatch answered INTERNAL: " + patch.error().message, document);
    if (patch.error().message.empty()) Fail("ParsePatch refused without a message", document);
    return 0;
  }
  v1::Gpu once = Stored();
  auto changed = ApplyPatch(patch.value(), Stored(), &once);
  if (!changed.ok()) {
    if (changed.error().code == deviceapi::store::ErrorCode::kInternal)
      Fail("ApplyPatch answered INTERNAL: " + changed.error().message, document);
    if (changed.error().message.empty()) Fail("ApplyPatch refused without a message", document);
    return 0;
  }
  if (strategic) return 0;
  v1::Gpu twice = once;
  auto again = ApplyPatch(patch.value(), once, &twice);
  if (!again.ok()) Fail("a merge patch applied to its own result fails: " + again.error().message, document);
  if (!google::protobuf::util::MessageDifferencer::Equals(once, twice))
    Fail("a merge patch applied to its own result changes it:\n" + once.DebugString() + "---\n" +
             twice.DebugString(),
         document);
  return 0;
}
