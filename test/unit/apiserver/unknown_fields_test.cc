// DropUnknownFields clears unknown fields at every depth, as
// Message::DiscardUnknownFields does, and leaves known ones alone.
#include "apiserver/unknown_fields.h"

#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include "device_api.pb.h"

namespace deviceapi::apiserver {
namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;

void AddJunk(google::protobuf::Message* m) {
  m->GetReflection()->MutableUnknownFields(m)->AddLengthDelimited(999, "junk");
}

std::size_t UnknownCount(const google::protobuf::Message& m) {
  return static_cast<std::size_t>(m.GetReflection()->GetUnknownFields(m).field_count());
}

v1::UpdateGpuStatusRequest WithJunkEverywhere() {
  v1::UpdateGpuStatusRequest req;
  auto* gpu = req.mutable_gpu();
  gpu->mutable_metadata()->set_name("gpu-a");
  (*gpu->mutable_metadata()->mutable_labels())["zone"] = "a";
  gpu->mutable_spec()->set_uuid("GPU-00000000-0000-0000-0000-000000000001");
  for (int i = 0; i < 3; ++i) {
    auto* c = gpu->mutable_status()->add_conditions();
    c->set_type("Ready" + std::to_string(i));
    c->set_status("True");
    c->mutable_last_transition_time()->set_seconds(100 + i);
    AddJunk(c);
    AddJunk(c->mutable_last_transition_time());
  }
  AddJunk(&req);
  AddJunk(gpu);
  AddJunk(gpu->mutable_metadata());
  AddJunk(gpu->mutable_spec());
  AddJunk(gpu->mutable_status());
  return req;
}

TEST(DropUnknownFields, ClearsEveryDepthLikeDiscardUnknownFields) {
  v1::UpdateGpuStatusRequest ours = WithJunkEverywhere();
  v1::UpdateGpuStatusRequest reference = ours;
  ASSERT_NE(ours.SerializeAsString().find("junk"), std::string::npos);

  DropUnknownFields(&ours);
  reference.DiscardUnknownFields();

  EXPECT_EQ(ours.SerializeAsString().find("junk"), std::string::npos);
  EXPECT_EQ(ours.SerializeAsString(), reference.SerializeAsString());
  EXPECT_EQ(UnknownCount(ours), 0u);
  EXPECT_EQ(UnknownCount(ours.gpu().status().conditions(2)), 0u);
  EXPECT_EQ(UnknownCount(ours.gpu().status().conditions(1).last_transition_time()), 0u);
  // Known fields stay.
  EXPECT_EQ(ours.gpu().status().conditions_size(), 3);
  EXPECT_EQ(ours.gpu().status().conditions(2).last_transition_time().seconds(), 102);
  EXPECT_EQ(ours.gpu().metadata().labels().at("zone"), "a");
}

TEST(DropUnknownFields, UnsetSubMessagesStayUnset) {
  v1::UpdateGpuStatusRequest req;
  AddJunk(&req);
  DropUnknownFields(&req);
  EXPECT_FALSE(req.has_gpu());  // visiting must not create empty sub-messages
  EXPECT_EQ(req.ByteSizeLong(), 0u);
}

}  // namespace
}  // namespace deviceapi::apiserver
