// PatchGpu's documents (S31): the patch providers send on every health
// change (conditions only, string fields) is applied to the message directly;
// every such document must give exactly what the general path, the JSON
// round trip, gives. The same document with a no-op directive added
// ($setElementOrder/conditions, which the merge skips) takes the general path.
#include "apiserver/gpu_patch.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace deviceapi::apiserver {
namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;

v1::Gpu Stored() {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name("gpu-0");
  gpu.mutable_metadata()->set_namespace_("default");
  gpu.mutable_metadata()->set_resource_version("42");
  gpu.mutable_spec()->set_uuid("GPU-0123abcd-4567-89ef-0123-456789abcdef");
  auto add = [&](const std::string& type, const std::string& status, const std::string& reason,
                 std::int64_t transition) {
    auto* c = gpu.mutable_status()->add_conditions();
    c->set_type(type);
    c->set_status(status);
    c->set_reason(reason);
    c->set_message("since " + std::to_string(transition));
    if (transition != 0) c->mutable_last_transition_time()->set_seconds(transition);
  };
  add("Ready", "True", "Probed", 100);
  add("NVMLReady", "True", "Healthy", 200);
  add("NoStatus", "", "Unset", 300);    // a condition with no status yet
  add("NVMLReady", "False", "Dup", 400);  // a duplicate type: the first one is merged
  return gpu;
}

v1::Gpu Apply(const std::string& document) {
  auto patch = ParsePatch(kStrategicMergePatchType, document, "status");
  EXPECT_TRUE(patch.ok()) << document;
  v1::Gpu updated = Stored();
  auto applied = ApplyPatch(*patch, Stored(), &updated);
  EXPECT_TRUE(applied.ok()) << document << ": " << applied.error().message;
  return updated;
}

TEST(GpuPatchConditions, DirectPathGivesWhatTheJsonRoundTripGivesS31) {
  const std::vector<std::string> conditions = {
      R"([{"type":"NVMLReady","status":"False","reason":"XidError","message":"Xid 79"}])",
      R"([{"type":"NVMLReady","status":"True"}])",                 // same status: transition kept
      R"([{"type":"NVMLReady","message":"only the message"}])",    // no status: transition kept
      R"([{"type":"Ready","reason":"","message":""}])",            // fields emptied
      R"([{"type":"NoStatus","status":""}])",                      // "" where there was none
      R"([{"type":"NoStatus","status":"True","reason":"Now"}])",
      R"([{"type":"New","status":"Unknown","reason":"Added","message":"m"}])",  // appended
      R"([{"type":"New2"}])",                                      // a type alone
      R"([{"type":"A","status":"True"},{"type":"A","status":"False"},{"type":"Ready","status":"False"}])",
      R"([])",
  };
  for (const auto& list : conditions) {
    const v1::Gpu direct = Apply(R"({"status":{"conditions":)" + list + "}}");
    const v1::Gpu general =
        Apply(R"({"status":{"$setElementOrder/conditions":[],"conditions":)" + list + "}}");
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(general, direct)) << list << "\n" << diff;
  }
}

TEST(GpuPatchConditions, StatusChangeClearsTheTransitionForTheServerToStampS6) {
  const v1::Gpu out = Apply(R"({"status":{"conditions":[{"type":"NVMLReady","status":"False"}]}})");
  ASSERT_EQ(out.status().conditions_size(), 4);
  EXPECT_EQ(out.status().conditions(1).status(), "False");
  EXPECT_FALSE(out.status().conditions(1).has_last_transition_time());
  EXPECT_EQ(out.status().conditions(1).reason(), "Healthy");  // not in the patch: kept
  EXPECT_EQ(out.status().conditions(3).reason(), "Dup");      // the duplicate is untouched
  EXPECT_TRUE(out.status().conditions(0).has_last_transition_time());
}

// S19: a refused patch never echoes more than a bounded part of itself,
// however long, deep or unprintable its keys and values.
TEST(GpuPatchErrors, MessagesAreBoundedS19) {
  std::string junk;  // a key of 1,024 control characters, escaped in JSON
  for (int i = 0; i < 1024; ++i) junk += "\\u0001";
  std::string deep;  // 28 levels of junk keys, a directive at the bottom: 32 deep
  for (int i = 0; i < 28; ++i) deep += "{\"" + junk + "\":";
  deep += R"({"$x":1})" + std::string(28, '}');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"metadata":{"labels":)" + deep + "}}", "unsupported directive"},
      {R"({"status":{")" + std::string(1 << 20, 'k') + R"(":null}})", "no such field"},
      {R"({"status":{"$)" + std::string(1 << 20, 'd') + R"(":1}})", "unsupported directive"},
  };
  for (const auto& [document, expected] : cases) {
    auto patch = ParsePatch(kMergePatchType, document, document.find("status") != std::string::npos ? "status" : "");
    ASSERT_FALSE(patch.ok());
    EXPECT_EQ(patch.error().code, store::ErrorCode::kInvalid);
    EXPECT_NE(patch.error().message.find(expected), std::string::npos) << patch.error().message.substr(0, 200);
    EXPECT_LE(patch.error().message.size(), 512u);
    EXPECT_EQ(patch.error().message.find('\x01'), std::string::npos);
  }
  // The parser's message, which cites the value it refused.
  auto patch = ParsePatch(kMergePatchType,
                          R"({"status":{"conditions":[{"type":"A","observedGeneration":")" + std::string(1 << 20, 'v') + R"("}]}})",
                          "status");
  ASSERT_TRUE(patch.ok());
  v1::Gpu updated = Stored();
  auto applied = ApplyPatch(*patch, Stored(), &updated);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, store::ErrorCode::kInvalid);
  EXPECT_LE(applied.error().message.size(), 512u) << applied.error().message.substr(0, 200);
}

// A request-sized document of many small values is refused on its bytes,
// before a parser builds a tree of millions of nodes from it (S19).
TEST(GpuPatchErrors, DocumentsOfMillionsOfValuesAreRefusedBeforeParsingS19) {
  const std::size_t request = 4u << 20;  // the gRPC message limit
  struct Case {
    std::string document;
    store::ErrorCode code;
    std::string expected;
  };
  std::string empties;  // 1.4 million empty arrays in one labels object's array
  while (empties.size() < request) empties += "[],";
  empties.pop_back();
  std::string entries;  // 200,000 annotations removed at once
  for (int i = 0; entries.size() < request && i < 200000; ++i) {
    entries += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":null";
  }
  std::string wide_conditions;  // 1,000 conditions of 38 values each: every array within bounds
  for (int i = 0; i < 1000; ++i) {
    wide_conditions += std::string(i ? "," : "") + R"({"type":"A","status":"True","reason":"R","message":"m","x":[)";
    for (int j = 0; j < 32; ++j) wide_conditions += std::string(j ? "," : "") + "1";
    wide_conditions += "]}";
  }
  const std::vector<Case> cases = {
      {R"({"metadata":{"labels":[)" + empties + "]}}", store::ErrorCode::kInvalid,
       "an array has more than 1024 items"},
      {R"({"metadata":{"annotations":{)" + entries + "}}}", store::ErrorCode::kResourceExhausted,
       "more than 32768 values"},
      {R"({"status":{"conditions":[)" + wide_conditions + "]}}", store::ErrorCode::kResourceExhausted,
       "more than 32768 values"},
  };
  for (const auto& c : cases) {
    auto patch = ParsePatch(kStrategicMergePatchType, c.document, "");
    ASSERT_FALSE(patch.ok());
    EXPECT_EQ(patch.error().code, c.code) << patch.error().message;
    EXPECT_NE(patch.error().message.find(c.expected), std::string::npos) << patch.error().message;
  }
  // What a provider sends stays far below the bound, strings with brackets
  // and commas included.
  std::string conditions;
  for (int i = 0; i < 32; ++i) {
    conditions += std::string(i ? "," : "") + R"({"type":"T)" + std::to_string(i) +
                  R"(","status":"False","reason":"Xid","message":"[,{]},\" x"})";
  }
  auto patch = ParsePatch(kStrategicMergePatchType, R"({"status":{"conditions":[)" + conditions + "]}}", "status");
  EXPECT_TRUE(patch.ok()) << patch.error().message;
}

}  // namespace
}  // namespace deviceapi::apiserver
