// GpuStrategy and the generic ResourceStrategy flow: S3, S4, S6, S19, S20.
#include "apiserver/gpu_strategy.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace deviceapi::apiserver {
namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;

constexpr const char* kUuid = "GPU-0123abcd-4567-89ef-0123-456789abcdef";

v1::Gpu ValidGpu() {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name(kUuid);
  gpu.mutable_spec()->set_uuid(kUuid);
  auto* c = gpu.mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status("True");
  c->set_reason("DriverLoaded");
  return gpu;
}

google::protobuf::Timestamp At(std::int64_t seconds) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  return ts;
}

// The strategy works in place on the request's arena, as the registry calls
// it; these run it on copies and answer the result by value.
store::Result<v1::Gpu> Created(const GpuStrategy& strategy, v1::Gpu object,
                               const google::protobuf::Timestamp& now) {
  auto prepared = strategy.PrepareForCreate(&object, now);
  if (!prepared.ok()) return prepared.error();
  return object;
}

store::Result<v1::Gpu> Updated(const GpuStrategy& strategy, v1::Gpu request, const v1::Gpu& old) {
  v1::Gpu out;
  auto prepared = strategy.PrepareForUpdate(&request, old, &out);
  if (!prepared.ok()) return prepared.error();
  return out;
}

v1::Gpu StatusUpdated(const GpuStrategy& strategy, v1::Gpu request, const v1::Gpu& old,
                      const google::protobuf::Timestamp& now) {
  v1::Gpu out;
  strategy.PrepareForStatusUpdate(&request, old, now, &out);
  return out;
}

TEST(GpuStrategyTest, CreateSetsServerFieldsS3) {
  GpuStrategy strategy;
  auto gpu = ValidGpu();
  gpu.mutable_metadata()->set_uid("client-chosen");
  gpu.mutable_metadata()->set_generation(42);
  auto created = Created(strategy, gpu, At(1000));
  ASSERT_TRUE(created.ok()) << created.error().message;
  const auto& meta = created->metadata();
  EXPECT_EQ(meta.namespace_(), "default");
  EXPECT_EQ(meta.generation(), 1);
  EXPECT_EQ(meta.creation_timestamp().seconds(), 1000);
  ASSERT_EQ(meta.uid().size(), 36u);
  EXPECT_NE(meta.uid(), "client-chosen");
  EXPECT_EQ(meta.uid()[14], '4');  // UUID version 4
  // S6: empty transition time filled by the server.
  EXPECT_EQ(created->status().conditions(0).last_transition_time().seconds(), 1000);
  auto again = Created(strategy, gpu, At(1000));
  EXPECT_NE(again->metadata().uid(), meta.uid());
}

TEST(GpuStrategyTest, CreateRefusesResourceVersion) {
  GpuStrategy strategy;
  auto gpu = ValidGpu();
  gpu.mutable_metadata()->set_resource_version("5");
  auto created = Created(strategy, gpu, At(1));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, store::ErrorCode::kInvalid);
  EXPECT_NE(created.error().message.find("gpu.metadata.resource_version"), std::string::npos);
}

struct HostileCase {
  const char* what;
  void (*mutate)(v1::Gpu*);
  store::ErrorCode code;
  const char* path;  // expected in the message
};

// S19 / S20: every refusal names the field path.
TEST(GpuStrategyTest, HostileObjectsTableS19S20) {
  const HostileCase cases[] = {
      {"empty name", [](v1::Gpu* g) { g->mutable_metadata()->clear_name(); },
       store::ErrorCode::kInvalid, "gpu.metadata.name: Required value"},
      {"uppercase name", [](v1::Gpu* g) { g->mutable_metadata()->set_name("Gpu0"); },
       store::ErrorCode::kInvalid, "gpu.metadata.name"},
      {"oversized name",
       [](v1::Gpu* g) { g->mutable_metadata()->set_name(std::string(254, 'a')); },
       store::ErrorCode::kInvalid, "gpu.metadata.name"},
      {"uppercase uuid name",
       [](v1::Gpu* g) {
         g->mutable_metadata()->set_name("GPU-0123ABCD-4567-89EF-0123-456789ABCDEF");
       },
       store::ErrorCode::kInvalid, "gpu.metadata.name"},
      {"bad namespace", [](v1::Gpu* g) { g->mutable_metadata()->set_namespace_("a.b"); },
       store::ErrorCode::kInvalid, "gpu.metadata.namespace"},
      {"missing uuid", [](v1::Gpu* g) { g->mutable_spec()->clear_uuid(); },
       store::ErrorCode::kInvalid, "gpu.spec.uuid: Required value"},
      {"bad uuid", [](v1::Gpu* g) { g->mutable_spec()->set_uuid("GPU-xyz"); },
       store::ErrorCode::kInvalid, "gpu.spec.uuid"},
      {"lowercase type",
       [](v1::Gpu* g) { g->mutable_status()->mutable_conditions(0)->set_type("ready"); },
       store::ErrorCode::kInvalid, "gpu.status.conditions[0].type: must be CamelCase"},
      {"empty type", [](v1::Gpu* g) { g->mutable_status()->mutable_conditions(0)->clear_type(); },
       store::ErrorCode::kInvalid, "gpu.status.conditions[0].type: Required value"},
      {"bad domain type",
       [](v1::Gpu* g) { g->mutable_status()->mutable_conditions(0)->set_type("Bad_Domain/Ready"); },
       store::ErrorCode::kInvalid, "gpu.status.conditions[0].type"},
      {"bad status",
       [](v1::Gpu* g) { g->mutable_status()->mutable_conditions(0)->set_status("true"); },
       store::ErrorCode::kInvalid, "gpu.status.conditions[0].status"},
      {"bad reason",
       [](v1::Gpu* g) { g->mutable_status()->mutable_conditions(0)->set_reason("not camel"); },
       store::ErrorCode::kInvalid, "gpu.status.conditions[0].reason"},
      {"duplicate type",
       [](v1::Gpu* g) { *g->mutable_status()->add_conditions() = g->status().conditions(0); },
       store::ErrorCode::kInvalid, "gpu.status.conditions[1].type: duplicate"},
      {"negative observed generation",
       [](v1::Gpu* g) { g->mutable_status()->mutable_conditions(0)->set_observed_generation(-1); },
       store::ErrorCode::kInvalid, "gpu.status.conditions[0].observed_generation"},
      {"bad transition time",
       [](v1::Gpu* g) {
         g->mutable_status()->mutable_conditions(0)->mutable_last_transition_time()->set_nanos(
             -5);
       },
       store::ErrorCode::kInvalid, "gpu.status.conditions[0].last_transition_time"},
      {"huge message",
       [](v1::Gpu* g) {
         g->mutable_status()->mutable_conditions(0)->set_message(std::string((32 << 10) + 1, 'm'));
       },
       store::ErrorCode::kResourceExhausted, "gpu.status.conditions[0].message"},
      {"33 conditions",
       [](v1::Gpu* g) {
         for (int i = 0; i < 32; ++i) {
           auto* c = g->mutable_status()->add_conditions();
           c->set_type("Extra" + std::to_string(i));
           c->set_status("True");
         }
       },
       store::ErrorCode::kResourceExhausted, "gpu.status.conditions: must have at most 32"},
      {"65 labels",
       [](v1::Gpu* g) {
         for (int i = 0; i < 65; ++i) {
           (*g->mutable_metadata()->mutable_labels())["l" + std::to_string(i)] = "v";
         }
       },
       store::ErrorCode::kResourceExhausted, "gpu.metadata.labels"},
      {"bad label key",
       [](v1::Gpu* g) { (*g->mutable_metadata()->mutable_labels())["a/b/c"] = "v"; },
       store::ErrorCode::kInvalid, "gpu.metadata.labels["},
      {"huge recommended action",
       [](v1::Gpu* g) { g->mutable_status()->set_recommended_action(std::string(2000, 'A')); },
       store::ErrorCode::kInvalid, "gpu.status.recommended_action"},
  };
  GpuStrategy strategy;
  for (const auto& c : cases) {
    auto gpu = ValidGpu();
    c.mutate(&gpu);
    auto created = Created(strategy, gpu, At(1));
    ASSERT_FALSE(created.ok()) << c.what;
    EXPECT_EQ(created.error().code, c.code) << c.what << ": " << created.error().message;
    EXPECT_NE(created.error().message.find(c.path), std::string::npos)
        << c.what << ": " << created.error().message;
  }
}

TEST(GpuStrategyTest, AcceptedEdgeCasesS20) {
  GpuStrategy strategy;
  auto gpu = ValidGpu();
  gpu.mutable_metadata()->set_name("node-1.gpu-0");
  gpu.mutable_spec()->set_uuid("GPU-0123ABCD-4567-89EF-0123-456789ABCDEF");  // observed form
  auto* c = gpu.mutable_status()->add_conditions();
  c->set_type("nvidia.com/XidHealthy");
  c->set_status("Unknown");  // empty reason allowed
  for (int i = 0; i < 30; ++i) {
    auto* e = gpu.mutable_status()->add_conditions();
    e->set_type("C" + std::to_string(i));
    e->set_status("False");
    e->set_message(std::string(32 << 10, 'm'));
  }
  auto created = Created(strategy, gpu, At(1));
  EXPECT_TRUE(created.ok()) << created.error().message;
}

TEST(GpuStrategyTest, UpdateChangesSpecAndLabelsNotStatusS4) {
  GpuStrategy strategy;
  auto old = *Created(strategy, ValidGpu(), At(1));
  auto request = old;
  request.mutable_status()->mutable_conditions(0)->set_status("False");
  (*request.mutable_metadata()->mutable_labels())["zone"] = "a";
  auto updated = Updated(strategy, request, old);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->status().conditions(0).status(), "True");  // status kept
  EXPECT_EQ(updated->metadata().labels().at("zone"), "a");
  EXPECT_EQ(updated->metadata().generation(), 1);  // spec unchanged

  request.mutable_spec()->set_uuid("GPU-00000000-0000-0000-0000-000000000000");
  updated = Updated(strategy, request, old);
  EXPECT_EQ(updated->metadata().generation(), 2);  // spec changed
  request.mutable_metadata()->set_generation(99);  // client value ignored
  updated = Updated(strategy, request, old);
  EXPECT_EQ(updated->metadata().generation(), 2);
}

TEST(GpuStrategyTest, UpdateRefusesImmutablesS3) {
  GpuStrategy strategy;
  auto old = *Created(strategy, ValidGpu(), At(1));
  auto request = old;
  request.mutable_metadata()->set_uid("other");
  auto r = Updated(strategy, request, old);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store::ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find("gpu.metadata.uid: field is immutable"), std::string::npos);

  request = old;
  request.mutable_metadata()->mutable_creation_timestamp()->set_seconds(5);
  r = Updated(strategy, request, old);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("gpu.metadata.creation_timestamp"), std::string::npos);

  // Leaving them empty is not a change.
  request = old;
  request.mutable_metadata()->clear_uid();
  request.mutable_metadata()->clear_creation_timestamp();
  EXPECT_TRUE(Updated(strategy, request, old).ok());
}

TEST(GpuStrategyTest, StatusUpdateKeepsMetadataAndSpecS4) {
  GpuStrategy strategy;
  auto old = *Created(strategy, ValidGpu(), At(1));
  auto request = old;
  request.mutable_spec()->set_uuid("GPU-00000000-0000-0000-0000-000000000000");
  request.mutable_metadata()->set_uid("ignored");
  (*request.mutable_metadata()->mutable_labels())["ignored"] = "x";
  request.mutable_status()->set_recommended_action("RESET_GPU");
  auto updated = StatusUpdated(strategy, request, old, At(2));
  EXPECT_EQ(updated.spec().uuid(), kUuid);
  EXPECT_EQ(updated.metadata().uid(), old.metadata().uid());
  EXPECT_TRUE(updated.metadata().labels().empty());
  EXPECT_EQ(updated.metadata().generation(), 1);
  EXPECT_EQ(updated.status().recommended_action(), "RESET_GPU");
}

TEST(GpuStrategyTest, TransitionTimeMovesOnlyOnStatusChangeS6) {
  GpuStrategy strategy;
  auto old = *Created(strategy, ValidGpu(), At(100));
  ASSERT_EQ(old.status().conditions(0).last_transition_time().seconds(), 100);

  // Same status, provider sends another time: kept.
  auto request = old;
  *request.mutable_status()->mutable_conditions(0)->mutable_last_transition_time() = At(500);
  request.mutable_status()->mutable_conditions(0)->set_message("still fine");
  auto same = StatusUpdated(strategy, request, old, At(200));
  EXPECT_EQ(same.status().conditions(0).last_transition_time().seconds(), 100);

  // Status changes, provider leaves it empty: server's clock.
  request = old;
  request.mutable_status()->mutable_conditions(0)->set_status("False");
  request.mutable_status()->mutable_conditions(0)->clear_last_transition_time();
  auto changed = StatusUpdated(strategy, request, old, At(300));
  EXPECT_EQ(changed.status().conditions(0).last_transition_time().seconds(), 300);

  // Status changes, provider gives the time it observed: kept.
  *request.mutable_status()->mutable_conditions(0)->mutable_last_transition_time() = At(250);
  changed = StatusUpdated(strategy, request, old, At(300));
  EXPECT_EQ(changed.status().conditions(0).last_transition_time().seconds(), 250);

  // A new condition type: filled.
  request = old;
  auto* added = request.mutable_status()->add_conditions();
  added->set_type("Throttled");
  added->set_status("False");
  auto with_new = StatusUpdated(strategy, request, old, At(400));
  EXPECT_EQ(with_new.status().conditions(1).last_transition_time().seconds(), 400);
}

TEST(GpuStrategyTest, UnchangedDetectsNoOpS1) {
  GpuStrategy strategy;
  auto old = *Created(strategy, ValidGpu(), At(100));
  auto request = old;
  request.mutable_status()->mutable_conditions(0)->clear_last_transition_time();
  auto same = StatusUpdated(strategy, request, old, At(200));
  EXPECT_TRUE(GpuStrategy::Unchanged(same, old));
  request.mutable_status()->mutable_conditions(0)->set_message("x");
  EXPECT_FALSE(
      GpuStrategy::Unchanged(StatusUpdated(strategy, request, old, At(200)), old));
}

// Map fields: equal contents inserted in another order are still a no-op;
// same size but different contents are not.
TEST(GpuStrategyTest, UnchangedIgnoresMapOrderS1) {
  GpuStrategy strategy;
  auto a = ValidGpu();
  auto b = ValidGpu();
  for (int i = 0; i < 20; ++i) {
    (*a.mutable_metadata()->mutable_labels())["k" + std::to_string(i)] = "v";
    (*b.mutable_metadata()->mutable_labels())["k" + std::to_string(19 - i)] = "v";
  }
  EXPECT_TRUE(GpuStrategy::Unchanged(a, b));
  (*b.mutable_metadata()->mutable_labels())["k3"] = "w";  // same size, other value
  EXPECT_FALSE(GpuStrategy::Unchanged(a, b));
}

// Sets `field` of `m` to a value other than its current one (scalars and
// strings; a message field gets a sub-field changed the same way).
void Perturb(google::protobuf::Message* m, const google::protobuf::FieldDescriptor* field) {
  using FD = google::protobuf::FieldDescriptor;
  const auto* r = m->GetReflection();
  ASSERT_FALSE(field->is_repeated()) << field->full_name();
  switch (field->cpp_type()) {
    case FD::CPPTYPE_STRING: r->SetString(m, field, r->GetString(*m, field) + "x"); break;
    case FD::CPPTYPE_INT32: r->SetInt32(m, field, r->GetInt32(*m, field) + 1); break;
    case FD::CPPTYPE_INT64: r->SetInt64(m, field, r->GetInt64(*m, field) + 1); break;
    case FD::CPPTYPE_UINT32: r->SetUInt32(m, field, r->GetUInt32(*m, field) + 1); break;
    case FD::CPPTYPE_UINT64: r->SetUInt64(m, field, r->GetUInt64(*m, field) + 1); break;
    case FD::CPPTYPE_BOOL: r->SetBool(m, field, !r->GetBool(*m, field)); break;
    case FD::CPPTYPE_ENUM: r->SetEnumValue(m, field, r->GetEnumValue(*m, field) + 1); break;
    case FD::CPPTYPE_MESSAGE: {
      auto* sub = r->MutableMessage(m, field);
      for (int i = 0; i < sub->GetDescriptor()->field_count(); ++i) {
        Perturb(sub, sub->GetDescriptor()->field(i));
      }
      break;
    }
    default: FAIL() << "unhandled type of " << field->full_name();
  }
}

// S1: GpuStrategy::StatusUnchanged compares field by field. Every field of
// GpuStatus, Condition, DeviceInfo and the transition time must count: this
// fails when the API gains a field the comparison does not look at.
TEST(GpuStrategyTest, StatusUnchangedSeesEveryStatusFieldS1) {
  GpuStrategy strategy;
  v1::Gpu base = ValidGpu();
  auto* c = base.mutable_status()->mutable_conditions(0);
  c->set_message("m");
  *c->mutable_last_transition_time() = At(5);
  base.mutable_status()->set_recommended_action("NONE");
  base.mutable_status()->mutable_device_info()->set_product_name("H100");
  EXPECT_TRUE(strategy.StatusUnchanged(base, base));

  auto expect_seen = [&](const std::function<void(v1::Gpu*)>& change, const std::string& what) {
    v1::Gpu changed = base;
    change(&changed);
    EXPECT_FALSE(strategy.StatusUnchanged(changed, base)) << what << " is not compared";
    EXPECT_FALSE(strategy.StatusUnchanged(base, changed)) << what << " is not compared";
  };
  const auto* status = v1::GpuStatus::descriptor();
  for (int i = 0; i < status->field_count(); ++i) {
    const auto* f = status->field(i);
    if (f->is_repeated()) continue;  // conditions: below
    expect_seen([&](v1::Gpu* g) { Perturb(g->mutable_status(), f); }, f->full_name());
  }
  for (int i = 0; i < v1::Condition::descriptor()->field_count(); ++i) {
    const auto* f = v1::Condition::descriptor()->field(i);
    expect_seen([&](v1::Gpu* g) { Perturb(g->mutable_status()->mutable_conditions(0), f); },
                f->full_name());
  }
  for (int i = 0; i < v1::DeviceInfo::descriptor()->field_count(); ++i) {
    const auto* f = v1::DeviceInfo::descriptor()->field(i);
    expect_seen([&](v1::Gpu* g) { Perturb(g->mutable_status()->mutable_device_info(), f); },
                f->full_name());
  }
  expect_seen([](v1::Gpu* g) { g->mutable_status()->add_conditions()->set_type("Extra"); },
              "the number of conditions");
  expect_seen([](v1::Gpu* g) { g->mutable_status()->clear_device_info(); }, "device_info presence");
  expect_seen([](v1::Gpu* g) {
    g->mutable_status()->mutable_conditions(0)->clear_last_transition_time();
  }, "last_transition_time presence");
}

}  // namespace
}  // namespace deviceapi::apiserver
