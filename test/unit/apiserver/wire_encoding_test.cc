// The hand-assembled responses decode as the contract's messages.
#include "apiserver/wire_encoding.h"

#include <gtest/gtest.h>

#include "device_api.pb.h"

namespace deviceapi::apiserver {
namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

std::shared_ptr<const ProtoObject<v1::Gpu>> MakeGpu(const std::string& name, std::size_t pad,
                                                    store::Revision rev) {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name(name);
  gpu.mutable_metadata()->set_namespace_("default");
  (*gpu.mutable_metadata()->mutable_labels())["k"] = "v";
  gpu.mutable_status()->set_recommended_action(std::string(pad, 'x'));  // multi-byte lengths
  return std::make_shared<ProtoObject<v1::Gpu>>(&gpu, rev);
}

TEST(WireEncodingTest, ProtoObjectKeepsItsStampedEncoding) {
  auto obj = MakeGpu("a", 3, 77);
  EXPECT_EQ(obj->revision(), 77u);
  EXPECT_EQ(obj->Parse()->metadata().resource_version(), "77");
  EXPECT_EQ(obj->Parse()->status().recommended_action(), "xxx");
  EXPECT_EQ(obj->key().name, "a");
  EXPECT_EQ(obj->labels().at("k"), "v");
  EXPECT_GT(obj->ByteSize(), obj->Serialized().size());
  EXPECT_EQ(&obj->Serialized(), &obj->Serialized());
  ProtoCodec<v1::Gpu> codec;
  auto decoded = codec.Decode(codec.Encode(*obj));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)->revision(), 77u);
  EXPECT_EQ((*decoded)->key().name, "a");
  EXPECT_EQ((*decoded)->labels().at("k"), "v");
  EXPECT_FALSE(codec.Decode("\xff\xff").ok());
  // Bytes that parse but carry no revision are refused too.
  v1::Gpu no_revision;
  no_revision.mutable_metadata()->set_name("a");
  EXPECT_FALSE(codec.Decode(no_revision.SerializeAsString()).ok());
}

// What a version costs is what it keeps: its encoding plus a small, fixed
// overhead, not a parsed message (which takes 4.5 to 5 times the encoding).
TEST(WireEncodingTest, ProtoObjectFootprintIsItsEncodingPlusAFixedOverheadS14S33) {
  auto obj = MakeGpu("a", 4000, 1);
  EXPECT_GT(obj->ByteSize(), obj->Serialized().size());
  EXPECT_LT(obj->ByteSize(), obj->Serialized().size() + 512);
}

TEST(WireEncodingTest, GetAndBareObject) {
  auto obj = MakeGpu("a", 300, 5);
  v1::GetGpuResponse resp;
  ASSERT_TRUE(resp.ParseFromString(Bytes(wire::EncodeObject<v1::Gpu>(obj, 1))));
  EXPECT_EQ(resp.gpu().metadata().name(), "a");
  EXPECT_EQ(resp.gpu().status().recommended_action().size(), 300u);
  v1::Gpu bare;
  ASSERT_TRUE(bare.ParseFromString(Bytes(wire::EncodeObject<v1::Gpu>(obj, -1))));
  EXPECT_EQ(bare.metadata().resource_version(), "5");
}

TEST(WireEncodingTest, List) {
  std::vector<std::shared_ptr<const ProtoObject<v1::Gpu>>> items;
  for (int i = 0; i < 50; ++i) items.push_back(MakeGpu("g" + std::to_string(i), i * 10, i + 1));
  v1::ListGpusResponse resp;
  ASSERT_TRUE(resp.ParseFromString(Bytes(wire::EncodeList<v1::Gpu>(123456789, items))));
  EXPECT_EQ(resp.gpu_list().metadata().resource_version(), "123456789");
  ASSERT_EQ(resp.gpu_list().items_size(), 50);
  EXPECT_EQ(resp.gpu_list().items(49).metadata().name(), "g49");
  EXPECT_EQ(resp.gpu_list().items(49).status().recommended_action().size(), 490u);

  v1::ListGpusResponse empty;
  ASSERT_TRUE(empty.ParseFromString(Bytes(wire::EncodeList<v1::Gpu>(9, {}))));
  EXPECT_EQ(empty.gpu_list().metadata().resource_version(), "9");
  EXPECT_EQ(empty.gpu_list().items_size(), 0);
}

TEST(WireEncodingTest, EventsAndBookmarksS15) {
  store::Event ev;
  ev.type = store::EventType::kModified;
  ev.revision = 8;
  ev.object = MakeGpu("a", 200, 8);
  grpc::ByteBuffer buf;
  ASSERT_TRUE(wire::EncodeObjectEvent<v1::Gpu>(ev, &buf));
  v1::WatchGpusResponse resp;
  ASSERT_TRUE(resp.ParseFromString(Bytes(buf)));
  EXPECT_EQ(resp.type(), "MODIFIED");
  EXPECT_EQ(resp.object().metadata().resource_version(), "8");

  store::Event bm;
  bm.type = store::EventType::kBookmark;
  bm.revision = 99;
  bm.initial_events_end = true;
  ASSERT_TRUE(resp.ParseFromString(Bytes(wire::EncodeBookmark<v1::Gpu>(bm))));
  EXPECT_EQ(resp.type(), "BOOKMARK");
  EXPECT_EQ(resp.object().metadata().resource_version(), "99");
  EXPECT_EQ(resp.object().metadata().annotations().at("k8s.io/initial-events-end"), "true");
  EXPECT_EQ(resp.object().metadata().name(), "");
  bm.initial_events_end = false;
  ASSERT_TRUE(resp.ParseFromString(Bytes(wire::EncodeBookmark<v1::Gpu>(bm))));
  EXPECT_TRUE(resp.object().metadata().annotations().empty());
}

}  // namespace
}  // namespace deviceapi::apiserver
