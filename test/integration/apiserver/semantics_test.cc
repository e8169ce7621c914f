// Object and read semantics through the wire: S1, S3, S4, S5, S6, S9, S10, S11.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "apiserver/proto_object.h"
#include "service_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

using grpc::StatusCode;
using google::protobuf::util::MessageDifferencer;

class SemanticsTest : public ServiceFixture, public ::testing::WithParamInterface<Storage> {
 protected:
  Storage storage() const override { return GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(Backends, SemanticsTest, AllStorages(), StorageName);

std::uint64_t Rv(const v1::Gpu& gpu) { return std::stoull(gpu.metadata().resource_version()); }

TEST_P(SemanticsTest, CreateSetsServerFieldsS3) {
  v1::Gpu a, b;
  ASSERT_TRUE(Create(MakeGpu(1), &a).ok());
  ASSERT_TRUE(Create(MakeGpu(2, "team-a"), &b).ok());
  EXPECT_EQ(a.metadata().namespace_(), "default");
  EXPECT_EQ(b.metadata().namespace_(), "team-a");
  EXPECT_EQ(a.metadata().generation(), 1);
  EXPECT_EQ(a.metadata().uid().size(), 36u);
  EXPECT_NE(a.metadata().uid(), b.metadata().uid());
  EXPECT_GT(a.metadata().creation_timestamp().seconds(), 1600000000);
  EXPECT_GT(Rv(b), Rv(a));  // S1
  EXPECT_TRUE(a.status().conditions(0).has_last_transition_time());  // S6 filled
  v1::Gpu got;
  ASSERT_TRUE(Get(UuidFor(1), "", &got).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(got, a));
  ASSERT_TRUE(Get(UuidFor(1), "default", &got).ok());
}

TEST_P(SemanticsTest, ImmutableFieldsS3) {
  v1::Gpu a;
  ASSERT_TRUE(Create(MakeGpu(1), &a).ok());
  v1::Gpu req = a;
  req.mutable_metadata()->set_uid("00000000-0000-4000-8000-000000000000");
  auto s = Update(req);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("gpu.metadata.uid: field is immutable"), std::string::npos);
  req = a;
  req.mutable_metadata()->mutable_creation_timestamp()->set_seconds(1);
  s = Update(req);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("gpu.metadata.creation_timestamp"), std::string::npos);
  v1::Gpu got;
  ASSERT_TRUE(Get(UuidFor(1), "", &got).ok());
  EXPECT_EQ(got.metadata().resource_version(), a.metadata().resource_version());
}

TEST_P(SemanticsTest, UpdateVersusStatusUpdateS4) {
  v1::Gpu a;
  ASSERT_TRUE(Create(MakeGpu(1), &a).ok());
  // UpdateGpu: labels change, status in the request is ignored, generation stays.
  v1::Gpu req = a;
  (*req.mutable_metadata()->mutable_labels())["rack"] = "r1";
  req.mutable_status()->mutable_conditions(0)->set_status("False");
  v1::Gpu u1;
  ASSERT_TRUE(Update(req, &u1).ok());
  EXPECT_EQ(u1.metadata().labels().at("rack"), "r1");
  EXPECT_EQ(u1.status().conditions(0).status(), "True");
  EXPECT_EQ(u1.metadata().generation(), 1);
  EXPECT_GT(Rv(u1), Rv(a));
  // Spec change: generation + 1.
  req = u1;
  req.mutable_spec()->set_uuid(UuidFor(99));
  v1::Gpu u2;
  ASSERT_TRUE(Update(req, &u2).ok());
  EXPECT_EQ(u2.metadata().generation(), 2);
  // UpdateGpuStatus: status changes; spec/labels in the request ignored; generation stays.
  req = u2;
  req.mutable_status()->mutable_conditions(0)->set_status("False");
  req.mutable_spec()->set_uuid(UuidFor(5));
  req.mutable_metadata()->mutable_labels()->clear();
  req.mutable_metadata()->set_generation(77);
  v1::Gpu u3;
  ASSERT_TRUE(UpdateStatus(req, &u3).ok());
  EXPECT_EQ(u3.status().conditions(0).status(), "False");
  EXPECT_EQ(u3.spec().uuid(), UuidFor(99));
  EXPECT_EQ(u3.metadata().labels().at("rack"), "r1");
  EXPECT_EQ(u3.metadata().generation(), 2);
}

TEST_P(SemanticsTest, NoOpUpdateTakesNoRevisionS1) {
  v1::Gpu a;
  ASSERT_TRUE(Create(MakeGpu(1), &a).ok());
  v1::Gpu same;
  ASSERT_TRUE(UpdateStatus(a, &same).ok());
  EXPECT_EQ(same.metadata().resource_version(), a.metadata().resource_version());
  ASSERT_TRUE(Update(a, &same).ok());
  EXPECT_EQ(same.metadata().resource_version(), a.metadata().resource_version());
  EXPECT_EQ(store().CurrentRevision(), Rv(a));
}

TEST_P(SemanticsTest, OptimisticConcurrencyS5) {
  v1::Gpu a;
  ASSERT_TRUE(Create(MakeGpu(1), &a).ok());
  v1::Gpu w1 = a, w2 = a;
  w1.mutable_status()->set_recommended_action("RESTART_APP");
  w2.mutable_status()->set_recommended_action("RESET_GPU");
  v1::Gpu r1;
  ASSERT_TRUE(UpdateStatus(w1, &r1).ok());
  EXPECT_EQ(UpdateStatus(w2).error_code(), StatusCode::ABORTED);  // lost update prevented
  // Empty resource_version: unconditional.
  w2.mutable_metadata()->clear_resource_version();
  v1::Gpu r2;
  ASSERT_TRUE(UpdateStatus(w2, &r2).ok());
  EXPECT_EQ(r2.status().recommended_action(), "RESET_GPU");
  // Matching resource_version: applies.
  v1::Gpu w3 = r2;
  w3.mutable_status()->set_recommended_action("");
  ASSERT_TRUE(UpdateStatus(w3).ok());
}

TEST_P(SemanticsTest, TransitionTimeS6) {
  v1::Gpu a;
  auto gpu = MakeGpu(1);
  gpu.mutable_status()->mutable_conditions(0)->mutable_last_transition_time()->set_seconds(
      1700000000);
  ASSERT_TRUE(Create(gpu, &a).ok());
  EXPECT_EQ(a.status().conditions(0).last_transition_time().seconds(), 1700000000);
  // Same status, new message, provider sends a fresh time: kept.
  v1::Gpu req = a;
  req.mutable_status()->mutable_conditions(0)->set_message("ok again");
  req.mutable_status()->mutable_conditions(0)->mutable_last_transition_time()->set_seconds(
      1800000000);
  v1::Gpu b;
  ASSERT_TRUE(UpdateStatus(req, &b).ok());
  EXPECT_EQ(b.status().conditions(0).last_transition_time().seconds(), 1700000000);
  // Status flips with no time: the server's clock.
  req = b;
  req.mutable_status()->mutable_conditions(0)->set_status("False");
  req.mutable_status()->mutable_conditions(0)->clear_last_transition_time();
  v1::Gpu c;
  ASSERT_TRUE(UpdateStatus(req, &c).ok());
  EXPECT_GT(c.status().conditions(0).last_transition_time().seconds(), 1700000000);
  EXPECT_LT(c.status().conditions(0).last_transition_time().seconds(), 1800000000 + 3e8);
}

TEST_P(SemanticsTest, ReadsByResourceVersionS9) {
  v1::Gpu a;
  ASSERT_TRUE(Create(MakeGpu(1), &a).ok());
  v1::Gpu b = a;
  b.mutable_status()->set_recommended_action("RESET_GPU");
  ASSERT_TRUE(UpdateStatus(b, &b).ok());
  v1::Gpu got;
  for (const std::string& rv : std::vector<std::string>{"", "0", a.metadata().resource_version(),
                               b.metadata().resource_version()}) {
    ASSERT_TRUE(Get(UuidFor(1), "", &got, rv).ok()) << rv;
    EXPECT_EQ(got.metadata().resource_version(), b.metadata().resource_version()) << rv;
  }
  // Exact: the state at a's revision, from history.
  v1::ListGpusRequest req;
  req.mutable_opts()->set_resource_version(a.metadata().resource_version());
  req.mutable_opts()->set_resource_version_match("Exact");
  v1::GpuList list;
  ASSERT_TRUE(List(req, &list).ok());
  EXPECT_EQ(list.metadata().resource_version(), a.metadata().resource_version());
  ASSERT_EQ(list.items_size(), 1);
  EXPECT_EQ(list.items(0).status().recommended_action(), "");
  // NotOlderThan: current.
  req.mutable_opts()->set_resource_version_match("NotOlderThan");
  ASSERT_TRUE(List(req, &list).ok());
  EXPECT_EQ(list.items(0).status().recommended_action(), "RESET_GPU");
  // A future revision that arrives while the read waits (S9: waits up to 3 s).
  const std::uint64_t next = Rv(b) + 1;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    v1::Gpu c = b;
    c.mutable_status()->set_recommended_action("RESTART_BM");
    EXPECT_TRUE(UpdateStatus(c).ok());
  });
  ASSERT_TRUE(Get(UuidFor(1), "", &got, std::to_string(next)).ok());
  EXPECT_GE(Rv(got), next);
  writer.join();
}

// S9: reads waiting for a future revision (up to the configured wait) do not
// hold up other calls, and end OUT_OF_RANGE when the revision never comes.
TEST_P(SemanticsTest, WaitingReadsDoNotBlockOthersS9) {
  ServerSetup setup;
  setup.store.future_revision_wait = std::chrono::milliseconds(1500);
  StartServer(setup);
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  const std::string future = std::to_string(store().CurrentRevision() + 1000);
  std::atomic<int> out_of_range{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 16; ++i) {
    waiters.emplace_back([&, i] {
      grpc::Status s;
      if (i % 2 == 0) {
        s = Get(UuidFor(1), "", nullptr, future);
      } else {
        v1::ListGpusRequest req;
        req.mutable_opts()->set_resource_version(future);
        s = List(req, nullptr);
      }
      if (s.error_code() == StatusCode::OUT_OF_RANGE) out_of_range.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let them park
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    auto g = Get(UuidFor(1), "", nullptr);
    EXPECT_TRUE(g.ok()) << g.error_code() << " " << g.error_message();
    auto l = List({}, nullptr);
    EXPECT_TRUE(l.ok()) << l.error_code() << " " << l.error_message();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  for (auto& t : waiters) t.join();
  EXPECT_EQ(out_of_range.load(), 16);
}

TEST_P(SemanticsTest, ListSortedFilteredS10S17) {
  // Created out of order, in several namespaces.
  const std::vector<std::pair<int, std::string>> objects = {
      {5, "b"}, {3, "a"}, {4, "ab"}, {1, "a"}, {2, ""}};
  for (const auto& [i, ns] : objects) {
    auto gpu = MakeGpu(i, ns);
    (*gpu.mutable_metadata()->mutable_labels())["idx"] = std::to_string(i);
    if (i % 2 == 1) (*gpu.mutable_metadata()->mutable_labels())["odd"] = "";
    ASSERT_TRUE(Create(gpu).ok());
  }
  v1::ListGpusRequest req;
  v1::GpuList list;
  ASSERT_TRUE(List(req, &list).ok());
  ASSERT_EQ(list.items_size(), 5);
  EXPECT_EQ(list.metadata().resource_version(), std::to_string(store().CurrentRevision()));
  std::vector<std::string> order;
  for (const auto& g : list.items()) order.push_back(g.metadata().namespace_() + "/" + g.metadata().name());
  EXPECT_EQ(order, (std::vector<std::string>{"a/" + UuidFor(1), "a/" + UuidFor(3),
                                             "ab/" + UuidFor(4), "b/" + UuidFor(5),
                                             "default/" + UuidFor(2)}));
  // S17: namespace "a" never yields "ab".
  req.set_namespace_("a");
  ASSERT_TRUE(List(req, &list).ok());
  ASSERT_EQ(list.items_size(), 2);
  for (const auto& g : list.items()) EXPECT_EQ(g.metadata().namespace_(), "a");
  // S10 selectors.
  const std::vector<std::pair<std::string, int>> selectors = {
      {"idx=3", 1}, {"idx!=3", 4}, {"idx in (1,2,9)", 2}, {"idx notin (1)", 4},
      {"odd", 3},   {"!odd", 2},   {"odd,idx=5", 1},      {"missing", 0}};
  req.clear_namespace_();
  for (const auto& [sel, want] : selectors) {
    req.mutable_opts()->set_label_selector(sel);
    ASSERT_TRUE(List(req, &list).ok()) << sel;
    EXPECT_EQ(list.items_size(), want) << sel;
  }
}

TEST_P(SemanticsTest, ResultsAreCopiesS11) {
  v1::Gpu a;
  ASSERT_TRUE(Create(MakeGpu(1), &a).ok());
  v1::Gpu first;
  ASSERT_TRUE(Get(UuidFor(1), "", &first).ok());
  const v1::Gpu snapshot = first;
  // A client mutating its copy changes nothing on the server.
  first.mutable_status()->set_recommended_action("CLIENT_LOCAL");
  v1::Gpu again;
  ASSERT_TRUE(Get(UuidFor(1), "", &again).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(again, snapshot));
  // A later write does not change an object already returned (served from
  // the store's immutable snapshot, not a shared mutable one).
  auto held = store().Get({"default", UuidFor(1)});
  ASSERT_TRUE(held.ok());
  auto held_gpu = ProtoObject<v1::Gpu>::From(*held);
  ASSERT_TRUE(held_gpu);
  v1::Gpu w = again;
  w.mutable_status()->set_recommended_action("RESET_GPU");
  ASSERT_TRUE(UpdateStatus(w).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*held_gpu->Parse(), snapshot));
  v1::ListGpusRequest req;
  req.mutable_opts()->set_resource_version(snapshot.metadata().resource_version());
  req.mutable_opts()->set_resource_version_match("Exact");
  v1::GpuList list;
  ASSERT_TRUE(List(req, &list).ok());
  ASSERT_EQ(list.items_size(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(list.items(0), snapshot));
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
