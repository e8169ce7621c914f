// Response bytes built from objects' cached encodings, without re-serializing
// or copying them: each object's bytes go into the grpc::ByteBuffer as a slice
// that keeps the (immutable) object alive. A watch event is serialized once
// and the same bytes go to every watcher.
//
// Relies only on the contract's shapes, shared by every kind:
//   Get<Kind>Response   { <Kind> item = 1; }
//   List<Kind>sResponse { <Kind>List list = 1; }
//   <Kind>List          { ListMeta metadata = 1; repeated <Kind> items = 2; }
//   Watch<Kind>sResponse{ string type = 1; <Kind> object = 2; }
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/io/coded_stream.h>

#include "apiserver/proto_object.h"
#include "store/event.h"

namespace deviceapi::apiserver::wire {

// Varints are protobuf's own (io::CodedOutputStream), appended to a string.
inline void AppendVarint(std::string* out, std::uint64_t v) {
  std::uint8_t bytes[10];  // a varint takes at most 10 bytes
  const std::uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, bytes);
  out->append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(end - bytes));
}
inline std::size_t VarintSize(std::uint64_t v) {
  return google::protobuf::io::CodedOutputStream::VarintSize64(v);
}
// Tag of a length-delimited field (wire type 2).
inline void AppendLenTag(std::string* out, int field, std::uint64_t length) {
  AppendVarint(out, (static_cast<std::uint64_t>(field) << 3) | 2);
  AppendVarint(out, length);
}
inline void AppendStringField(std::string* out, int field, std::string_view value) {
  AppendLenTag(out, field, value.size());
  out->append(value);
}

// A slice over `object`'s cached bytes that holds a reference to it.
template <typename Msg>
grpc::Slice ObjectSlice(std::shared_ptr<const ProtoObject<Msg>> object) {
  const std::string& bytes = object->Serialized();
  auto* hold = new std::shared_ptr<const ProtoObject<Msg>>(std::move(object));
  return grpc::Slice(const_cast<char*>(bytes.data()), bytes.size(),
                     [](void* p) { delete static_cast<std::shared_ptr<const ProtoObject<Msg>>*>(p); },
                     hold);
}

inline grpc::ByteBuffer ToBuffer(std::vector<grpc::Slice>& slices) {
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// { item = 1 } (Get response) or the bare object (field < 0: Create/Update).
template <typename Msg>
grpc::ByteBuffer EncodeObject(std::shared_ptr<const ProtoObject<Msg>> object, int field) {
  std::vector<grpc::Slice> slices;
  if (field > 0) {
    std::string header;
    AppendLenTag(&header, field, object->Serialized().size());
    slices.emplace_back(header);
  }
  slices.push_back(ObjectSlice<Msg>(std::move(object)));
  return ToBuffer(slices);
}

// { list = 1 { metadata = 1 { resource_version = 1 }, items = 2... } }
template <typename Msg>
grpc::ByteBuffer EncodeList(store::Revision revision,
                            const std::vector<std::shared_ptr<const ProtoObject<Msg>>>& items) {
  std::string list_meta;
  AppendStringField(&list_meta, 1, std::to_string(revision));
  std::size_t list_len = 1 + VarintSize(list_meta.size()) + list_meta.size();
  for (const auto& item : items) {
    std::size_t n = item->Serialized().size();
    list_len += 1 + VarintSize(n) + n;
  }
  std::string head;
  AppendLenTag(&head, 1, list_len);
  AppendLenTag(&head, 1, list_meta.size());
  head += list_meta;
  std::vector<grpc::Slice> slices;
  slices.reserve(1 + 2 * items.size());
  slices.emplace_back(head);
  for (const auto& item : items) {
    std::string tag;
    AppendLenTag(&tag, 2, item->Serialized().size());
    slices.emplace_back(tag);
    slices.push_back(ObjectSlice<Msg>(item));
  }
  return ToBuffer(slices);
}

// { type = 1, object = 2 } for ADDED / MODIFIED / DELETED. The event's object
// must be a ProtoObject<Msg>; returns false otherwise.
template <typename Msg>
bool EncodeObjectEvent(const store::Event& event, grpc::ByteBuffer* out) {
  auto object = ProtoObject<Msg>::From(event.object);
  if (!object) return false;
  std::string head;
  AppendStringField(&head, 1, store::EventTypeName(event.type));
  AppendLenTag(&head, 2, object->Serialized().size());
  std::vector<grpc::Slice> slices;
  slices.emplace_back(head);
  slices.push_back(ObjectSlice<Msg>(std::move(object)));
  *out = ToBuffer(slices);
  return true;
}

// { type = "BOOKMARK", object = { metadata = { resource_version, [annotation
// k8s.io/initial-events-end: "true"] } } } (S15).
template <typename Msg>
grpc::ByteBuffer EncodeBookmark(const store::Event& event) {
  Msg object;
  object.mutable_metadata()->set_resource_version(std::to_string(event.revision));
  if (event.initial_events_end) {
    (*object.mutable_metadata()->mutable_annotations())["k8s.io/initial-events-end"] = "true";
  }
  std::string bytes;
  AppendStringField(&bytes, 1, "BOOKMARK");
  AppendStringField(&bytes, 2, object.SerializeAsString());
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace deviceapi::apiserver::wire
