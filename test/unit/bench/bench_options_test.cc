// device-api-bench's own logic without a server: its flags (compare mode,
// request shapes), the requests it builds (base contract only, GPU-UUID
// names) and compare mode's arithmetic.
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "bench/compare.h"
#include "bench/objects.h"
#include "bench/options.h"

namespace deviceapi::bench {
namespace {

ParseOutcome Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "device-api-bench");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return ParseOptions(static_cast<int>(argv.size()), argv.data());
}

TEST(BenchOptions, RequestShapeDefaultsToMergedAndPrHeadMovesToDefaultNamespace) {
  auto merged = Parse({"get"});
  ASSERT_TRUE(merged.run) << merged.error;
  EXPECT_EQ(merged.options.request_shape, "merged");
  EXPECT_EQ(merged.options.namespace_name, "bench");

  auto head = Parse({"--request-shape", "pr-head", "get"});
  ASSERT_TRUE(head.run) << head.error;
  EXPECT_EQ(head.options.request_shape, "pr-head");
  EXPECT_EQ(head.options.namespace_name, "default");

  EXPECT_TRUE(Parse({"--request-shape", "pr-head", "--namespace", "default", "get"}).run);
  auto clash = Parse({"--request-shape", "pr-head", "--namespace", "bench", "get"});
  EXPECT_FALSE(clash.run);
  EXPECT_EQ(clash.exit_code, 2);
  EXPECT_NE(clash.error.find("default"), std::string::npos) << clash.error;
  EXPECT_EQ(Parse({"--request-shape", "old", "get"}).exit_code, 2);
  // LABEL=SHAPE names a server: compare mode only.
  EXPECT_EQ(Parse({"--request-shape", "a=pr-head", "get"}).exit_code, 2);
}

TEST(BenchOptions, CompareCollectsServersArgumentsAndShapes) {
  auto out = Parse({"compare", "--server", "ours=/bin/ours", "--server", "nvs=/bin/nvs",
                    "--server-arg", "ours=--storage-type=memory", "--server-arg",
                    "nvs=--health-probe-bind-address=127.0.0.1:{port}", "--server-arg",
                    "ours=--storage-endpoint=sqlite://{dir}/state.db", "--request-shape",
                    "nvs=pr-head", "--rounds", "3", "get", "burst"});
  ASSERT_TRUE(out.run) << out.error;
  const Options& o = out.options;
  EXPECT_TRUE(o.compare);
  EXPECT_EQ(o.scenarios, (std::vector<std::string>{"get", "burst"}));
  ASSERT_EQ(o.servers.size(), 2u);
  EXPECT_EQ(o.servers[0].label, "ours");
  EXPECT_EQ(o.servers[0].binary, "/bin/ours");
  EXPECT_EQ(o.servers[0].args, (std::vector<std::string>{"--storage-type=memory",
                                                         "--storage-endpoint=sqlite://{dir}/state.db"}));
  EXPECT_EQ(o.servers[0].request_shape, "merged");
  EXPECT_EQ(o.servers[1].args,
            (std::vector<std::string>{"--health-probe-bind-address=127.0.0.1:{port}"}));
  EXPECT_EQ(o.servers[1].request_shape, "pr-head");
  EXPECT_EQ(o.baseline, "nvs");  // the last server unless --baseline says
  EXPECT_EQ(o.rounds, 3);
  EXPECT_EQ(o.namespace_name, "default");  // a pr-head server writes only there
}

TEST(BenchOptions, CompareWithoutScenariosRunsThemAll) {
  auto out = Parse({"compare", "--server", "a=/x", "--server", "b=/y", "--baseline", "a"});
  ASSERT_TRUE(out.run) << out.error;
  EXPECT_EQ(out.options.scenarios, CompareScenarios());
  EXPECT_EQ(out.options.baseline, "a");
  EXPECT_EQ(out.options.rounds, 5);
  EXPECT_EQ(out.options.namespace_name, "bench");
}

TEST(BenchOptions, CompareRefusesIncompleteOrAmbiguousFlags) {
  const std::vector<std::vector<std::string>> bad = {
      {"compare", "--server", "a=/x"},                                    // one server
      {"compare", "--server", "a=/x", "--server", "a=/y"},                // label twice
      {"compare", "--server", "a", "--server", "b=/y"},                   // no binary
      {"compare", "--server", "a=/x", "--server", "b=/y", "--server-arg", "c=--flag"},
      {"compare", "--server", "a=/x", "--server", "b=/y", "--server-arg", "--flag"},
      {"compare", "--server", "a=/x", "--server", "b=/y", "--baseline", "c"},
      {"compare", "--server", "a=/x", "--server", "b=/y", "noop"},       // not a compare scenario
      {"compare", "--server", "a=/x", "--server", "b=/y", "--request-shape", "a=new"},
      {"compare", "--server", "a=/x", "--server", "b=/y", "--rounds", "0"},
      {"--server", "a=/x", "get"},                                        // not compare mode
  };
  for (auto& args : bad) {
    auto out = Parse(args);
    std::string joined;
    for (auto& a : args) joined += a + " ";
    EXPECT_FALSE(out.run) << joined;
    EXPECT_EQ(out.exit_code, 2) << joined;
  }
}

TEST(BenchOptions, StartupServerArgsStayPlain) {
  auto out = Parse({"--server-binary", "/x", "--server-arg=--storage-endpoint=sqlite:///t/db",
                    "startup"});
  ASSERT_TRUE(out.run) << out.error;
  EXPECT_EQ(out.options.server_args, (std::vector<std::string>{"--storage-endpoint=sqlite:///t/db"}));
}

TEST(BenchCompare, ExpandsPlaceholders) {
  EXPECT_EQ(ExpandServerArg("--bind-address=unix://{socket}", "/t/a.sock", "/t"),
            "--bind-address=unix:///t/a.sock");
  EXPECT_EQ(ExpandServerArg("sqlite://{dir}/state.db", "/t/a.sock", "/t"), "sqlite:///t/state.db");
  const std::string two = ExpandServerArg("{port},{port}", "", "");
  const auto comma = two.find(',');
  ASSERT_NE(comma, std::string::npos);
  const int a = std::stoi(two.substr(0, comma)), b = std::stoi(two.substr(comma + 1));
  EXPECT_GT(a, 0);
  EXPECT_GT(b, 0);
  EXPECT_EQ(ExpandServerArg("{other}", "", ""), "{other}");
}

TEST(BenchCompare, RatiosPerRoundMedianAndRange) {
  auto parsed = Parse({"compare", "--server", "a=/x", "--server", "b=/y", "--rounds", "3"});
  ASSERT_TRUE(parsed.run) << parsed.error;
  CompareMetric m;
  m.scenario = "get";
  m.name = "p50 ms (1 client)";
  m.values["a"] = {1.0, 3.0, 2.0};
  m.values["b"] = {2.0, 2.0, std::nan("")};  // round 3 of b measured nothing
  auto report = CompareReport(parsed.options, {m}, {{"nproc", 2}}, {});
  ASSERT_EQ(report["metrics"].size(), 1u);
  const auto& j = report["metrics"][0];
  EXPECT_DOUBLE_EQ(j["median"]["a"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["median"]["b"].get<double>(), 2.0);
  const auto& r = j["ratio"]["a"];
  EXPECT_DOUBLE_EQ(r["per_round"][0].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(r["per_round"][1].get<double>(), 1.5);
  EXPECT_TRUE(r["per_round"][2].is_null());
  EXPECT_DOUBLE_EQ(r["median"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["min"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(r["max"].get<double>(), 1.5);
  EXPECT_FALSE(j["ratio"].contains("b"));  // the baseline

  const std::string md = CompareTable(report, /*markdown=*/true);
  EXPECT_NE(md.find("| get | p50 ms (1 client) | 2 | 2 | 1 [0.5–1.5] | 0.5 1.5 - |"), std::string::npos)
      << md;
  EXPECT_NE(CompareTable(report, false).find("a/b median [range]"), std::string::npos);
}

// Every field set anywhere in `msg` (recursively), as "Message.field".
void SetFields(const google::protobuf::Message& msg, std::set<std::string>* out) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  msg.GetReflection()->ListFields(msg, &fields);
  for (auto* f : fields) {
    out->insert(std::string(msg.GetDescriptor()->name()) + "." + std::string(f->name()));
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < msg.GetReflection()->FieldSize(msg, f); ++i)
        SetFields(msg.GetReflection()->GetRepeatedMessage(msg, f, i), out);
    } else {
      SetFields(msg.GetReflection()->GetMessage(msg, f), out);
    }
  }
  EXPECT_TRUE(msg.GetReflection()->GetUnknownFields(msg).empty());
}

// The fields of the base contract (docs: wire-contract, "Base contract").
bool InBaseContract(const std::string& field) {
  static const std::set<std::string> kBase = {
      "ObjectMeta.name", "ObjectMeta.resource_version", "ObjectMeta.namespace", "ObjectMeta.uid",
      "ObjectMeta.generation", "ObjectMeta.creation_timestamp", "ListOptions.resource_version",
      "GetOptions.resource_version", "Gpu.metadata", "Gpu.spec", "Gpu.status", "GpuSpec.uuid",
      "GpuStatus.conditions", "GpuStatus.recommended_action", "Condition.type", "Condition.status",
      "Condition.last_transition_time", "Condition.reason", "Condition.message",
      "GetGpuRequest.name", "GetGpuRequest.namespace", "GetGpuRequest.opts",
      "ListGpusRequest.namespace", "ListGpusRequest.opts", "WatchGpusRequest.namespace",
      "WatchGpusRequest.opts", "CreateGpuRequest.gpu", "CreateGpuRequest.opts",
      "UpdateGpuStatusRequest.gpu", "UpdateGpuStatusRequest.opts", "DeleteGpuRequest.name",
      "DeleteGpuRequest.namespace", "DeleteGpuRequest.opts"};
  return kBase.count(field) > 0;
}

void ExpectBaseContractOnly(const google::protobuf::Message& msg) {
  std::set<std::string> fields;
  SetFields(msg, &fields);
  EXPECT_FALSE(fields.empty());
  for (auto& f : fields) EXPECT_TRUE(InBaseContract(f)) << f << " is not in the base contract";
}

TEST(BenchRequests, SetBaseContractFieldsOnly) {
  v1::CreateGpuRequest create;
  *create.mutable_gpu() = MakeGpu("bench", GpuName(3), GpuName(3), 8, 1);
  ExpectBaseContractOnly(create);
  auto update = MakeStatusUpdate("bench", 3, 32, 0);
  NextStatusWrite(&update, 1, 4, 7, 1024);
  ExpectBaseContractOnly(update);
  ExpectBaseContractOnly(WatchRequest("bench", "42"));
  ExpectBaseContractOnly(WatchRequest("bench", ""));
}

TEST(BenchRequests, GpuNamesAreLowercaseGpuUuids) {
  EXPECT_EQ(GpuName(42), "GPU-0000002a-0000-4000-8000-00000000002a");
  EXPECT_EQ(GpuName(0), GpuUuid(0));
  auto gpu = MakeGpu("bench", GpuName(7), GpuName(7), 1, 0);
  EXPECT_EQ(gpu.metadata().name(), gpu.spec().uuid());
  std::set<std::string> names;
  for (int i = 0; i < 2048; ++i) names.insert(GpuName(i));
  EXPECT_EQ(names.size(), 2048u);
}

TEST(BenchRequests, PrHeadShapeCarriesNameStatusAndResourceVersion) {
  auto req = MakeStatusUpdate("bench", 5, 2, 9);
  req.mutable_gpu()->mutable_metadata()->set_resource_version("17");
  const auto old = ToPrHeadShape(req);
  EXPECT_EQ(old.name(), GpuName(5));
  EXPECT_EQ(old.resource_version(), "17");
  EXPECT_EQ(old.status().SerializeAsString(), req.gpu().status().SerializeAsString());
  // On the wire: name = 1 (a string), status = 2, resource_version = 3.
  const std::string bytes = old.SerializeAsString();
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), (1u << 3) | 2u);
  EXPECT_EQ(bytes.substr(2, static_cast<unsigned char>(bytes[1])), GpuName(5));
}

TEST(BenchCompare, MedianIgnoresMissingValues) {
  EXPECT_DOUBLE_EQ(Median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(Median({4, 1, 2, 3}), 2.5);
  EXPECT_TRUE(std::isnan(Median({std::nan("")})));
}

}  // namespace
}  // namespace deviceapi::bench
