// PatchGpu through the wire (S31), with S1 (no-op), S5 (precondition in the
// patch), S6 (transition times) and S20 (validation of the result).
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "service_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

using grpc::StatusCode;

constexpr const char* kMerge = "application/merge-patch+json";
constexpr const char* kStrategic = "application/strategic-merge-patch+json";

class PatchTest : public ServiceFixture, public ::testing::WithParamInterface<Storage> {
 protected:
  Storage storage() const override { return GetParam(); }
  void SetUp() override {
    ServiceFixture::SetUp();
    v1::Gpu gpu = MakeGpu(1);
    auto* c = gpu.mutable_status()->add_conditions();
    c->set_type("NVMLReady");
    c->set_status("True");
    c->set_reason("Healthy");
    ASSERT_TRUE(Create(gpu, &created_).ok());
  }
  static const v1::Condition* Find(const v1::Gpu& gpu, const std::string& type) {
    for (const auto& c : gpu.status().conditions()) {
      if (c.type() == type) return &c;
    }
    return nullptr;
  }
  grpc::Status P(const char* type, const std::string& data, const std::string& sub,
                 v1::Gpu* out = nullptr) {
    return Patch(UuidFor(1), type, data, sub, out);
  }
  v1::Gpu created_;
};
INSTANTIATE_TEST_SUITE_P(Backends, PatchTest, AllStorages(), StorageName);

TEST_P(PatchTest, MergePatchOfLabelsAndSpecS31) {
  v1::Gpu out;
  ASSERT_TRUE(P(kMerge, R"({"metadata":{"labels":{"zone":"a","rack":"r1"}}})", "", &out).ok());
  EXPECT_EQ(out.metadata().labels().at("zone"), "a");
  EXPECT_EQ(out.metadata().generation(), 1);  // S4: labels do not move generation
  ASSERT_TRUE(P(kMerge, R"({"metadata":{"labels":{"zone":null}}})", "", &out).ok());
  EXPECT_EQ(out.metadata().labels().count("zone"), 0u);
  EXPECT_EQ(out.metadata().labels().at("rack"), "r1");
  // Status in the main resource is the wrong subresource; nothing changes.
  const std::string before = Snapshot();
  auto s = P(kMerge, R"({"status":{"recommendedAction":"RESET"}})", "");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Snapshot(), before);
  // And metadata or spec under "status".
  EXPECT_EQ(P(kMerge, R"({"metadata":{"labels":{"x":"y"}}})", "status").error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Snapshot(), before);
}

TEST_P(PatchTest, MergePatchReplacesConditionsS31) {
  v1::Gpu out;
  ASSERT_TRUE(P(kMerge,
                R"({"status":{"conditions":[{"type":"NVMLReady","status":"False","reason":"XidError"}]}})",
                "status", &out)
                  .ok());
  ASSERT_EQ(out.status().conditions_size(), 1);  // RFC 7386: arrays are replaced
  EXPECT_EQ(out.status().conditions(0).status(), "False");
  EXPECT_TRUE(out.status().conditions(0).has_last_transition_time());
}

TEST_P(PatchTest, StrategicMergeOfConditionsByTypeS31) {
  // Transition times have whole seconds (as Kubernetes'): step into the next.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  v1::Gpu out;
  ASSERT_TRUE(P(kStrategic,
                R"({"status":{"conditions":[{"type":"NVMLReady","status":"False","reason":"XidError","message":"Xid 79"},
                                            {"type":"DCGMHealthy","status":"True"}]}})",
                "status", &out)
                  .ok());
  ASSERT_EQ(out.status().conditions_size(), 3);
  EXPECT_EQ(Find(out, "Ready")->status(), "True");  // untouched
  const auto* nvml = Find(out, "NVMLReady");
  EXPECT_EQ(nvml->status(), "False");
  EXPECT_EQ(nvml->reason(), "XidError");
  // S6: the status changed and the patch gave no time: the server's clock.
  EXPECT_GT(google::protobuf::util::TimeUtil::TimestampToNanoseconds(nvml->last_transition_time()),
            google::protobuf::util::TimeUtil::TimestampToNanoseconds(
                Find(created_, "NVMLReady")->last_transition_time()));
  const auto time_before = nvml->last_transition_time();
  // Same status, new message: the transition time stays (S6).
  ASSERT_TRUE(P(kStrategic, R"({"status":{"conditions":[{"type":"NVMLReady","message":"again"}]}})",
                "status", &out)
                  .ok());
  EXPECT_EQ(Find(out, "NVMLReady")->message(), "again");
  EXPECT_EQ(Find(out, "NVMLReady")->reason(), "XidError");
  EXPECT_EQ(Find(out, "NVMLReady")->last_transition_time().seconds(), time_before.seconds());
  EXPECT_EQ(Find(out, "NVMLReady")->last_transition_time().nanos(), time_before.nanos());
  // $patch: delete removes one condition only.
  ASSERT_TRUE(P(kStrategic, R"({"status":{"conditions":[{"type":"DCGMHealthy","$patch":"delete"}]}})",
                "status", &out)
                  .ok());
  EXPECT_EQ(out.status().conditions_size(), 2);
  EXPECT_EQ(Find(out, "DCGMHealthy"), nullptr);
  // kubectl's element order directive is accepted.
  EXPECT_TRUE(P(kStrategic,
                R"({"status":{"$setElementOrder/conditions":[{"type":"Ready"}],"recommendedAction":"NONE"}})",
                "status")
                  .ok());
}

TEST_P(PatchTest, ResourceVersionInsideThePatchIsAPreconditionS31) {
  const std::string rv = created_.metadata().resource_version();
  const std::string before = Snapshot();
  auto s = P(kMerge, R"({"metadata":{"resourceVersion":"1"},"status":{"recommendedAction":"RESET"}})",
             "status");
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);
  EXPECT_EQ(Snapshot(), before);
  v1::Gpu out;
  ASSERT_TRUE(P(kMerge,
                R"({"metadata":{"resourceVersion":")" + rv +
                    R"("},"status":{"recommendedAction":"RESET"}})",
                "status", &out)
                  .ok());
  EXPECT_EQ(out.status().recommended_action(), "RESET");
  EXPECT_GT(std::stoull(out.metadata().resource_version()), std::stoull(rv));
  // S5: compared as a revision, as UpdateGpu's precondition is; one that is
  // no resource version is INVALID_ARGUMENT, an empty one no precondition.
  const std::string now = out.metadata().resource_version();
  ASSERT_TRUE(P(kMerge, R"({"metadata":{"resourceVersion":"0)" + now + R"("},"status":{"recommendedAction":"A"}})",
                "status", &out)
                  .ok());
  EXPECT_EQ(out.status().recommended_action(), "A");
  const std::string after = Snapshot();
  for (const char* bad : {"abc", "-1", " 1", "99999999999999999999999"}) {
    s = P(kMerge, std::string(R"({"metadata":{"resourceVersion":")") + bad + R"("},"status":{"recommendedAction":"B"}})",
          "status");
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << bad << ": " << s.error_message();
  }
  EXPECT_EQ(Snapshot(), after);
  ASSERT_TRUE(P(kMerge, R"({"metadata":{"resourceVersion":""},"status":{"recommendedAction":"C"}})", "status", &out).ok());
  EXPECT_EQ(out.status().recommended_action(), "C");
}

TEST_P(PatchTest, NoOpPatchTakesNoRevisionS1) {
  v1::Gpu out;
  ASSERT_TRUE(P(kStrategic, R"({"status":{"conditions":[{"type":"NVMLReady","status":"True"}]}})",
                "status", &out)
                  .ok());
  EXPECT_EQ(out.metadata().resource_version(), created_.metadata().resource_version());
  ASSERT_TRUE(P(kMerge, R"({})", "", &out).ok());
  EXPECT_EQ(out.metadata().resource_version(), created_.metadata().resource_version());
  ASSERT_TRUE(P(kMerge, R"({"spec":{"uuid":")" + UuidFor(1) + R"("}})", "", &out).ok());
  EXPECT_EQ(out.metadata().resource_version(), created_.metadata().resource_version());
}

TEST_P(PatchTest, MalformedAndHostileDocumentsChangeNothingS31) {
  const std::string before = Snapshot();
  std::string deep(10000, '[');
  std::string deep_object;
  for (int i = 0; i < 5000; ++i) deep_object += R"({"a":)";
  deep_object += "1" + std::string(5000, '}');
  std::string huge = R"({"status":{"conditions":[)";
  for (int i = 0; i < 5000; ++i) huge += std::string(i ? "," : "") + R"({"type":"T)" + std::to_string(i) + R"("})";
  huge += "]}}";
  const struct {
    const char* type;
    std::string data;
    const char* sub;
  } cases[] = {
      {kMerge, "{", "status"},
      {kMerge, "not json", ""},
      {kMerge, "[]", ""},
      {kMerge, "\"string\"", ""},
      {kMerge, deep, "status"},
      {kStrategic, deep_object, "status"},
      {kStrategic, huge, "status"},
      {kMerge, R"({"status":{"conditions":"x"}})", "status"},
      {kMerge, R"({"status":{"conditions":[{"type":"A","status":5}]}})", "status"},
      {kStrategic, R"({"status":{"conditions":[{"status":"True"}]}})", "status"},
      {kStrategic, R"({"status":{"conditions":[{"type":"NVMLReady","$patch":"replace"}]}})", "status"},
      {kStrategic, R"({"status":{"$patch":"replace"}})", "status"},
      {kMerge, R"({"status":{"conditions":[{"type":"X","$patch":"delete"}]}})", "status"},
      {kMerge, R"({"status":{"noSuchField":1}})", "status"},
      // A field the object does not have, even set to null (S31).
      {kMerge, R"({"noSuchTop":null})", ""},
      {kMerge, R"({"spec":{"noSuchField":null}})", ""},
      {kMerge, R"({"metadata":{"noSuchField":null}})", ""},
      {kStrategic, R"({"status":{"noSuchField":null}})", "status"},
      {kStrategic, R"({"status":{"conditions":[{"type":"NVMLReady","noSuchField":null}]}})", "status"},
      {kMerge, R"({"spec":{"uuid":{"nested":null}}})", ""},
      {kMerge, R"({"status":{"conditions":[{"type":"bad type","status":"True"}]}})", "status"},
      {kMerge, R"({"status":{"conditions":[{"type":"A","status":"Maybe"}]}})", "status"},
      {kMerge, R"({"metadata":{"uid":"00000000-0000-4000-8000-000000000000"}})", ""},
      {kMerge, R"({"metadata":{"name":"other"}})", ""},
      {kMerge, R"({"metadata":{"resourceVersion":7}})", ""},
      {kMerge, R"({"spec":{"uuid":"nope"}})", ""},
      {kMerge, R"({"metadata":{"labels":{"zone":"a"}}})", "scale"},
      {"application/json-patch+json", R"([{"op":"add"}])", ""},
  };
  for (const auto& c : cases) {
    auto s = P(c.type, c.data, c.sub);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT)
        << c.data.substr(0, 80) << " -> " << s.error_message();
  }
  // More labels than an object may have: refused before the object is
  // converted (S19, S32), and when the patch is nearly 4 MiB of them, before
  // the document is parsed.
  for (const auto& [count, expected] : {std::pair{65, "at most 64"}, std::pair{200000, "more than 32768 values"}}) {
    std::string labels = R"({"metadata":{"labels":{)";
    for (int i = 0; i < count; ++i) labels += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":\"v\"";
    labels += "}}}";
    auto s = P(kMerge, labels, "");
    EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << count << " labels: " << s.error_message();
    EXPECT_NE(s.error_message().find(expected), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(Snapshot(), before);
  // A missing object is NOT_FOUND.
  EXPECT_EQ(Patch(UuidFor(9), kMerge, "{}", "").error_code(), StatusCode::NOT_FOUND);
}

// S31: field names are the proto's JSON names, the names of the object's
// JSON form the patch is merged into. A proto name that differs
// (recommended_action) names no field of that form: set to null it would
// erase nothing and answer OK, so it is refused as any unknown field is,
// with the JSON name in the message.
TEST_P(PatchTest, ProtoFieldNamesAreRefusedS31) {
  ASSERT_TRUE(P(kMerge, R"({"status":{"recommendedAction":"RESET"}})", "status").ok());
  const std::string before = Snapshot();
  const struct {
    std::string data;
    const char* sub;
    const char* json_name;
  } cases[] = {
      {R"({"status":{"recommended_action":null}})", "status", "recommendedAction"},
      {R"({"status":{"recommended_action":"NONE"}})", "status", "recommendedAction"},
      {R"({"status":{"conditions":[{"type":"NVMLReady","last_transition_time":null}]}})", "status",
       "lastTransitionTime"},
      {R"({"status":{"conditions":[{"type":"NVMLReady","observed_generation":3}]}})", "status",
       "observedGeneration"},
      {R"({"metadata":{"resource_version":"1"}})", "", "resourceVersion"},
      {R"({"metadata":{"creation_timestamp":null}})", "", "creationTimestamp"},
  };
  for (const char* type : {kMerge, kStrategic}) {
    for (const auto& c : cases) {
      auto s = P(type, c.data, c.sub);
      EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << type << " " << c.data << " -> " << s.error_message();
      EXPECT_NE(s.error_message().find(c.json_name), std::string::npos) << c.data << " -> " << s.error_message();
    }
  }
  EXPECT_EQ(Snapshot(), before);
  v1::Gpu got;
  ASSERT_TRUE(Get(UuidFor(1), "", &got).ok());
  EXPECT_EQ(got.status().recommended_action(), "RESET");
}

// S31: the subresource is decided by what the document touches, not by
// what it changes: a patch naming status without subresource "status", or
// anything but status with it, is refused even when the values it gives
// are the object's own.
TEST_P(PatchTest, WrongSubresourceIsRefusedEvenWhenNothingChangesS31) {
  ASSERT_TRUE(P(kMerge, R"({"metadata":{"labels":{"zone":"a"}}})", "").ok());
  const std::string before = Snapshot();
  const std::string uuid = UuidFor(1);
  const struct {
    std::string data;
    const char* sub;
  } cases[] = {
      {R"({"status":{"recommendedAction":""}})", ""},
      {R"({"status":{"conditions":[{"type":"NVMLReady","status":"True"}]}})", ""},
      {R"({"status":{}})", ""},
      {R"({"metadata":{"labels":{"zone":"a"}},"status":{"recommendedAction":""}})", ""},
      {R"({"metadata":{"labels":{"zone":"a"}}})", "status"},
      {R"({"metadata":{"labels":{}}})", "status"},
      {R"({"metadata":{"name":")" + uuid + R"("}})", "status"},
      {R"({"spec":{"uuid":")" + uuid + R"("}})", "status"},
      {R"({"spec":{"uuid":")" + uuid + R"("},"status":{"recommendedAction":""}})", "status"},
  };
  for (const char* type : {kMerge, kStrategic}) {
    for (const auto& c : cases) {
      auto s = P(type, c.data, c.sub);
      EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT)
          << type << " " << c.data << " (subresource \"" << c.sub << "\") -> " << s.error_message();
      EXPECT_NE(s.error_message().find("subresource"), std::string::npos) << c.data << " -> " << s.error_message();
    }
  }
  EXPECT_EQ(Snapshot(), before);
  // What each subresource may touch still passes as a no-op (S1), the
  // resourceVersion precondition included.
  v1::Gpu out;
  for (const char* type : {kMerge, kStrategic}) {
    ASSERT_TRUE(P(type, R"({"metadata":{"labels":{"zone":"a"}},"spec":{"uuid":")" + uuid + R"("}})", "", &out).ok());
    ASSERT_TRUE(P(type,
                  R"({"metadata":{"resourceVersion":")" + out.metadata().resource_version() +
                      R"("},"status":{"recommendedAction":""}})",
                  "status", &out)
                    .ok());
    ASSERT_TRUE(P(type, "{}", "status", &out).ok());
    ASSERT_TRUE(P(type, "{}", "", &out).ok());
  }
  EXPECT_EQ(Snapshot(), before);
}

TEST_P(PatchTest, ConcurrentProvidersNeverLoseAConditionS31) {
  // Two providers patch their own condition, with no resource_version and
  // no retries: every acknowledged write is in the final object.
  constexpr int kRounds = 100;
  auto provider = [&](const std::string& type) {
    for (int i = 0; i < kRounds; ++i) {
      const std::string doc = R"({"status":{"conditions":[{"type":")" + type +
                              R"(","status":"True","message":"round )" + std::to_string(i) + R"("}]}})";
      ASSERT_TRUE(P(kStrategic, doc, "status").ok());
    }
  };
  std::thread a(provider, "ProviderA"), b(provider, "ProviderB");
  a.join();
  b.join();
  v1::Gpu got;
  ASSERT_TRUE(Get(UuidFor(1), "", &got).ok());
  ASSERT_NE(Find(got, "ProviderA"), nullptr);
  ASSERT_NE(Find(got, "ProviderB"), nullptr);
  EXPECT_EQ(Find(got, "ProviderA")->message(), "round 99");
  EXPECT_EQ(Find(got, "ProviderB")->message(), "round 99");
  EXPECT_EQ(Find(got, "NVMLReady")->status(), "True");
}

// S31, S32: patches that convert the object to JSON are applied outside
// the store's lock, to the version they read; one whose GPU moved on
// meanwhile is applied again, so that racing writers (other such patches,
// providers' condition patches, status updates) lose nothing.
TEST_P(PatchTest, PatchesAppliedOutsideTheLockLoseNoRacingWriteS31S32) {
  constexpr int kLabelsEach = 20, kRounds = 60;
  auto labeller = [&](char prefix) {
    for (int i = 0; i < kLabelsEach; ++i) {
      const std::string doc = std::string(R"({"metadata":{"labels":{")") + prefix + std::to_string(i) +
                              R"(":"v"}},"spec":{"uuid":")" + UuidFor(1) + R"("}})";
      ASSERT_TRUE(P(kMerge, doc, "").ok());
    }
  };
  auto provider = [&] {
    for (int i = 0; i < kRounds; ++i) {
      const std::string doc = R"({"status":{"conditions":[{"type":"NVMLReady","status":"True","message":"round )" +
                              std::to_string(i) + R"("}]}})";
      ASSERT_TRUE(P(kStrategic, doc, "status").ok());
    }
  };
  auto actions = [&] {
    for (int i = 0; i < kRounds; ++i) {
      const std::string doc = R"({"status":{"recommendedAction":"A)" + std::to_string(i) + R"("}})";
      ASSERT_TRUE(P(kMerge, doc, "status").ok());
    }
  };
  std::thread a(labeller, 'a'), b(labeller, 'b'), c(provider), d(actions);
  a.join();
  b.join();
  c.join();
  d.join();
  v1::Gpu got;
  ASSERT_TRUE(Get(UuidFor(1), "", &got).ok());
  for (char prefix : {'a', 'b'}) {
    for (int i = 0; i < kLabelsEach; ++i) {
      EXPECT_EQ(got.metadata().labels().count(prefix + std::to_string(i)), 1u) << prefix << i;
    }
  }
  EXPECT_EQ(Find(got, "NVMLReady")->message(), "round " + std::to_string(kRounds - 1));
  EXPECT_EQ(got.status().recommended_action(), "A" + std::to_string(kRounds - 1));
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
