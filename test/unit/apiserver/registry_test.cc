// ResourceRegistry over a real store, without gRPC: S1, S5, S7 and the GPU
// health summary for the metrics endpoint.
#include "apiserver/resource_registry.h"

#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "apiserver/condition_counts.h"
#include "apiserver/gpu_strategy.h"

namespace deviceapi::apiserver {
namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;

v1::Gpu Gpu(const std::string& name, const std::string& ready) {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name(name);
  gpu.mutable_spec()->set_uuid("GPU-0123abcd-4567-89ef-0123-456789abcdef");
  auto* c = gpu.mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status(ready);
  return gpu;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Open().ok()); }
  // The registry's writes take a request on its own arena, as the service
  // hands it over; these copy a test's message onto one.
  static std::pair<std::unique_ptr<google::protobuf::Arena>, v1::Gpu*> OnArena(const v1::Gpu& gpu) {
    auto arena = NewMessageArena(gpu.ByteSizeLong());
    auto* copy = google::protobuf::Arena::CreateMessage<v1::Gpu>(arena.get());
    *copy = gpu;
    return {std::move(arena), copy};
  }
  auto Create(const v1::Gpu& gpu) {
    auto [arena, copy] = OnArena(gpu);
    return registry_.Create(std::move(arena), copy);
  }
  auto Update(const v1::Gpu& gpu) {
    auto [arena, copy] = OnArena(gpu);
    return registry_.Update(std::move(arena), copy);
  }
  auto UpdateStatus(const v1::Gpu& gpu) {
    auto [arena, copy] = OnArena(gpu);
    return registry_.UpdateStatus(std::move(arena), copy);
  }
  store::Store store_;
  GpuStrategy strategy_;
  ResourceRegistry<v1::Gpu> registry_{store_, strategy_};
};

TEST_F(RegistryTest, DeleteEventStampedWithDeletionRevisionS7) {
  auto created = Create(Gpu("gpu-a", "True"));
  ASSERT_TRUE(created.ok());
  store::WatchOptions wo;
  wo.start = (*created)->revision();
  auto watcher = store_.Watch(wo);
  ASSERT_TRUE(watcher.ok());
  auto deleted = registry_.Delete("", "gpu-a", {});
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ((*deleted)->revision(), store_.CurrentRevision());
  EXPECT_EQ((*deleted)->Parse()->metadata().resource_version(),
            std::to_string(store_.CurrentRevision()));
  store::Event ev;
  ASSERT_TRUE((*watcher)->WaitNext(&ev, std::chrono::seconds(5)));
  EXPECT_EQ(ev.type, store::EventType::kDeleted);
  EXPECT_EQ(ev.revision, store_.CurrentRevision());
  EXPECT_EQ(ProtoObject<v1::Gpu>::From(ev.object)->Parse()->metadata().resource_version(),
            std::to_string(ev.revision));
  (*watcher)->Cancel();
}

// Unknown fields in what a write stores never reach the stored object, at any
// depth; a status update that differs only by them is a no-op (S1).
TEST_F(RegistryTest, UnknownFieldsInStoredPartsAreDropped) {
  auto junk = [](google::protobuf::Message* m) {
    m->GetReflection()->MutableUnknownFields(m)->AddLengthDelimited(777, "junk");
  };
  v1::Gpu gpu = Gpu("gpu-a", "True");
  junk(&gpu);
  junk(gpu.mutable_spec());
  junk(gpu.mutable_status()->mutable_conditions(0));
  auto created = Create(gpu);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ((*created)->Serialized().find("junk"), std::string::npos);
  const auto rev = store_.CurrentRevision();

  v1::Gpu status = *(*created)->Parse();
  junk(status.mutable_status());
  junk(status.mutable_status()->mutable_conditions(0)->mutable_last_transition_time());
  auto same = UpdateStatus(status);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(store_.CurrentRevision(), rev);

  status.mutable_status()->set_recommended_action("RESET_GPU");
  auto updated = UpdateStatus(status);
  ASSERT_TRUE(updated.ok());
  EXPECT_GT(store_.CurrentRevision(), rev);
  EXPECT_EQ((*updated)->Serialized().find("junk"), std::string::npos);

  v1::Gpu spec = *(*updated)->Parse();
  junk(spec.mutable_spec());
  spec.mutable_spec()->set_uuid("GPU-0123abcd-4567-89ef-0123-456789abcde0");
  auto respec = Update(spec);
  ASSERT_TRUE(respec.ok());
  EXPECT_EQ((*respec)->Serialized().find("junk"), std::string::npos);
}

TEST_F(RegistryTest, NoOpAndPreconditionsS1S5) {
  auto created = Create(Gpu("gpu-a", "True"));
  ASSERT_TRUE(created.ok());
  const auto rev = store_.CurrentRevision();
  auto same = UpdateStatus(*(*created)->Parse());
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(store_.CurrentRevision(), rev);  // S1: no revision for a no-op
  v1::Gpu req = *(*created)->Parse();
  req.mutable_metadata()->set_resource_version(std::to_string(rev - 1));
  req.mutable_status()->set_recommended_action("RESET_GPU");
  auto stale = UpdateStatus(req);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, store::ErrorCode::kConflict);  // S5
  v1::Preconditions pre;
  pre.set_uid("other");
  EXPECT_EQ(registry_.Delete("default", "gpu-a", pre).error().code, store::ErrorCode::kConflict);
  EXPECT_EQ(store_.CurrentRevision(), rev);
}

TEST_F(RegistryTest, CountConditions) {
  ASSERT_TRUE(Create(Gpu("gpu-a", "True")).ok());
  ASSERT_TRUE(Create(Gpu("gpu-b", "False")).ok());
  auto c = Gpu("gpu-c", "False");
  auto* x = c.mutable_status()->add_conditions();
  x->set_type("nvidia.com/XidHealthy");
  x->set_status("Unknown");
  ASSERT_TRUE(Create(c).ok());
  auto counts = CountConditions(store_);
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ((counts[{"Ready", "True"}]), 1u);
  EXPECT_EQ((counts[{"Ready", "False"}]), 2u);
  EXPECT_EQ((counts[{"nvidia.com/XidHealthy", "Unknown"}]), 1u);
  store_.Shutdown();
  EXPECT_TRUE(CountConditions(store_).empty());
}

// A scrape's two families share one count; a write since is seen at once.
TEST_F(RegistryTest, GpuHealthCounterRecountsOnlyWhenTheStoreMoved) {
  ASSERT_TRUE(Create(Gpu("gpu-a", "True")).ok());
  GpuHealthCounter counter(store_);
  auto first = counter.Get();
  EXPECT_EQ(first.revision, store_.CurrentRevision());
  EXPECT_EQ((first.conditions[{"Ready", "True"}]), 1u);
  EXPECT_EQ(counter.Get().revision, first.revision);
  ASSERT_TRUE(Create(Gpu("gpu-b", "False")).ok());
  auto second = counter.Get();
  EXPECT_EQ(second.revision, store_.CurrentRevision());
  EXPECT_EQ((second.conditions[{"Ready", "False"}]), 1u);
}

TEST_F(RegistryTest, CountRecommendedActions) {
  auto a = Gpu("gpu-a", "False");
  a.mutable_status()->set_recommended_action("RESET_GPU");
  auto b = Gpu("gpu-b", "False");
  b.mutable_status()->set_recommended_action("RESET_GPU");
  auto c = Gpu("gpu-c", "False");
  c.mutable_status()->set_recommended_action("RESTART_BM");
  for (const auto& g : {a, b, c, Gpu("gpu-d", "True")}) ASSERT_TRUE(Create(g).ok());
  auto counts = CountRecommendedActions(store_);
  EXPECT_EQ(counts.size(), 2u);  // the healthy GPU's empty action is not a series
  EXPECT_EQ(counts["RESET_GPU"], 2u);
  EXPECT_EQ(counts["RESTART_BM"], 1u);
}

// S33: /metrics label values come from clients, so their series are bounded:
// the kMaxConditionTypes condition types carried by the most GPUs keep their
// own label and the rest are counted under condition="other"; likewise
// recommended actions beyond kMaxRecommendedActions. A type every GPU
// carries always keeps its label.
TEST_F(RegistryTest, GpuHealthSeriesAreBoundedWithTheRestAsOtherS33) {
  constexpr int kGpus = static_cast<int>(kMaxConditionTypes) + 6;
  auto name = [](const char* prefix, int i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%03d", prefix, i);
    return std::string(buf);
  };
  for (int i = 0; i < kGpus; ++i) {
    auto gpu = Gpu(name("gpu-", i), "True");  // Ready on every GPU
    auto* c = gpu.mutable_status()->add_conditions();
    c->set_type(name("Custom", i));  // one type of its own each
    c->set_status("False");
    gpu.mutable_status()->set_recommended_action(i < 8 ? std::string("RESET_GPU") : name("ACTION_", i));
    ASSERT_TRUE(Create(gpu).ok());
  }
  const auto counts = CountGpuHealth(store_);
  std::set<std::string> types;
  std::size_t gpus = 0, other = 0;
  for (const auto& [key, n] : counts.conditions) {
    types.insert(key.first);
    if (key.first == kOtherLabel) other += n;
    if (key.first != "Ready") gpus += n;
  }
  EXPECT_EQ(types.size(), kMaxConditionTypes + 1) << "the kept types and other";
  EXPECT_TRUE(types.count("Ready"));
  EXPECT_EQ((counts.conditions.at({"Ready", "True"})), static_cast<std::size_t>(kGpus));
  EXPECT_EQ(gpus, static_cast<std::size_t>(kGpus)) << "every condition is still counted";
  EXPECT_EQ(other, static_cast<std::size_t>(kGpus) - (kMaxConditionTypes - 1));
  EXPECT_EQ(counts.actions.size(), kMaxRecommendedActions + 1);
  EXPECT_EQ(counts.actions.at("RESET_GPU"), 8u);
  std::size_t actions = 0;
  for (const auto& [action, n] : counts.actions) actions += n;
  EXPECT_EQ(actions, static_cast<std::size_t>(kGpus));
  EXPECT_EQ(counts.actions.at(kOtherLabel), static_cast<std::size_t>(kGpus - 8) - (kMaxRecommendedActions - 1));
}

}  // namespace
}  // namespace deviceapi::apiserver
