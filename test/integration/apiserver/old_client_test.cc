// An old-shape client: one built against the base contract only (no labels,
// annotations, list options beyond resource_version, preconditions,
// observed_generation, device_info, BOOKMARK). Its messages are built from a
// descriptor pool holding a copy of device_api.proto with every extension
// field removed, so requests carry base fields only and responses are decoded
// exactly as such a client decodes them: extension fields land in unknown
// fields and the base fields read correctly.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/empty.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <gtest/gtest.h>

#include <set>

#include "service_fixture.h"

namespace deviceapi::apiserver::testing {
namespace {

namespace pb = google::protobuf;

class OldClient {
 public:
  OldClient() {
    pb::FileDescriptorProto dep;
    pb::Timestamp::descriptor()->file()->CopyTo(&dep);
    pool_.BuildFile(dep);
    dep.Clear();
    pb::Empty::descriptor()->file()->CopyTo(&dep);
    pool_.BuildFile(dep);
    pb::FileDescriptorProto file;
    v1::Gpu::descriptor()->file()->CopyTo(&file);
    const std::map<std::string, std::set<int>> base_fields = {
        {"ObjectMeta", {1, 2, 3, 4, 5, 6}}, {"ListOptions", {1}}, {"DeleteOptions", {}},
        {"GpuStatus", {1, 2}},              {"Condition", {1, 2, 3, 4, 5}}};
    pb::FileDescriptorProto stripped = file;
    stripped.clear_message_type();
    for (const auto& m : file.message_type()) {
      if (m.name() == "Preconditions" || m.name() == "DeviceInfo") continue;  // extensions
      auto* copy = stripped.add_message_type();
      *copy = m;
      auto it = base_fields.find(m.name());
      if (it == base_fields.end()) continue;
      copy->clear_field();
      copy->clear_nested_type();  // the labels/annotations map entries
      for (const auto& f : m.field()) {
        if (it->second.count(f.number())) *copy->add_field() = f;
      }
    }
    file_ = pool_.BuildFile(stripped);
  }
  bool ok() const { return file_ != nullptr; }

  std::unique_ptr<pb::Message> New(const std::string& name) {
    const auto* d = pool_.FindMessageTypeByName("nvidia.nvsentinel.v1alpha1." + name);
    EXPECT_NE(d, nullptr) << name;
    return std::unique_ptr<pb::Message>(factory_.GetPrototype(d)->New());
  }

 private:
  pb::DescriptorPool pool_;
  pb::DynamicMessageFactory factory_;
  const pb::FileDescriptor* file_ = nullptr;
};

class OldClientTest : public ServiceFixture {};

void SetString(pb::Message* m, const std::string& field, const std::string& value) {
  m->GetReflection()->SetString(m, m->GetDescriptor()->FindFieldByName(field), value);
}
std::string GetString(const pb::Message& m, const std::string& field) {
  return m.GetReflection()->GetString(m, m.GetDescriptor()->FindFieldByName(field));
}
pb::Message* Mutable(pb::Message* m, const std::string& field) {
  return m->GetReflection()->MutableMessage(m, m->GetDescriptor()->FindFieldByName(field));
}
const pb::Message& Sub(const pb::Message& m, const std::string& field) {
  return m.GetReflection()->GetMessage(m, m.GetDescriptor()->FindFieldByName(field));
}

TEST_F(OldClientTest, BaseContractClientWorksAgainstExtendedServer) {
  OldClient old;
  ASSERT_TRUE(old.ok());
  // The old descriptor really lacks the extensions.
  ASSERT_EQ(old.New("ObjectMeta")->GetDescriptor()->FindFieldByName("labels"), nullptr);

  // A new client adds labels and device info to a GPU.
  auto gpu = MakeGpu(1);
  (*gpu.mutable_metadata()->mutable_labels())["zone"] = "z1";
  gpu.mutable_status()->mutable_device_info()->set_product_name("H100");
  gpu.mutable_status()->mutable_conditions(0)->set_observed_generation(1);
  ASSERT_TRUE(Create(gpu).ok());

  // The old client creates a GPU with base fields only.
  auto req = old.New("CreateGpuRequest");
  auto* ogpu = Mutable(req.get(), "gpu");
  SetString(Mutable(ogpu, "metadata"), "name", UuidFor(2));
  SetString(Mutable(ogpu, "spec"), "uuid", UuidFor(2));
  std::string response;
  auto s = RawCall("CreateGpu", req->SerializeAsString(), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto created = old.New("Gpu");
  ASSERT_TRUE(created->ParseFromString(response));
  EXPECT_EQ(GetString(Sub(*created, "metadata"), "namespace"), "default");
  EXPECT_EQ(GetString(Sub(*created, "metadata"), "uid").size(), 36u);

  // It lists: base fields decode, extensions are unknown fields to it.
  auto list_req = old.New("ListGpusRequest");
  ASSERT_TRUE(RawCall("ListGpus", list_req->SerializeAsString(), &response).ok());
  auto list = old.New("ListGpusResponse");
  ASSERT_TRUE(list->ParseFromString(response));
  const auto& gpu_list = Sub(*list, "gpu_list");
  const auto* items = gpu_list.GetDescriptor()->FindFieldByName("items");
  ASSERT_EQ(gpu_list.GetReflection()->FieldSize(gpu_list, items), 2);
  const auto& first = gpu_list.GetReflection()->GetRepeatedMessage(gpu_list, items, 0);
  EXPECT_EQ(GetString(Sub(first, "metadata"), "name"), UuidFor(1));
  EXPECT_EQ(GetString(Sub(first, "spec"), "uuid"), UuidFor(1));
  const auto& meta = Sub(first, "metadata");
  EXPECT_FALSE(meta.GetReflection()->GetUnknownFields(meta).empty());  // labels (7)
  const auto& status = Sub(first, "status");
  EXPECT_FALSE(status.GetReflection()->GetUnknownFields(status).empty());  // device_info (3)

  // Get-modify-update by the old client keeps the labels it never knew
  // about: its decoder preserves unknown fields and sends them back.
  auto get_req = old.New("GetGpuRequest");
  SetString(get_req.get(), "name", UuidFor(1));
  ASSERT_TRUE(RawCall("GetGpu", get_req->SerializeAsString(), &response).ok());
  auto got = old.New("GetGpuResponse");
  ASSERT_TRUE(got->ParseFromString(response));
  auto upd = old.New("UpdateGpuRequest");
  Mutable(upd.get(), "gpu")->CopyFrom(Sub(*got, "gpu"));
  ASSERT_TRUE(RawCall("UpdateGpu", upd->SerializeAsString(), &response).ok());
  v1::Gpu after;
  ASSERT_TRUE(Get(UuidFor(1), "", &after).ok());
  EXPECT_EQ(after.metadata().labels().at("zone"), "z1");

  // Delete with base-only options.
  auto del = old.New("DeleteGpuRequest");
  SetString(del.get(), "name", UuidFor(2));
  ASSERT_TRUE(RawCall("DeleteGpu", del->SerializeAsString(), &response).ok());
  EXPECT_EQ(Get(UuidFor(2), "", nullptr).error_code(), grpc::StatusCode::NOT_FOUND);
}

// An old client's watch: event types it knows (no BOOKMARK unless asked).
TEST_F(OldClientTest, OldWatchSeesOnlyBaseEventTypes) {
  OldClient old;
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE(Create(MakeGpu(1)).ok());
  auto req = old.New("WatchGpusRequest");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::WatchGpusRequest typed;
  ASSERT_TRUE(typed.ParseFromString(req->SerializeAsString()));
  auto reader = stub().WatchGpus(&ctx, typed);
  v1::WatchGpusResponse ev;
  ASSERT_TRUE(reader->Read(&ev));
  auto old_ev = old.New("WatchGpusResponse");
  ASSERT_TRUE(old_ev->ParseFromString(ev.SerializeAsString()));
  EXPECT_EQ(GetString(*old_ev, "type"), "ADDED");
  EXPECT_EQ(GetString(Sub(Sub(*old_ev, "object"), "metadata"), "name"), UuidFor(1));
  ctx.TryCancel();
  while (reader->Read(&ev)) {
  }
  reader->Finish();
}

}  // namespace
}  // namespace deviceapi::apiserver::testing
