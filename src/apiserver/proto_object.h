// ProtoObject<Msg>: a store::Object whose payload is a protobuf resource
// message (any kind with `ObjectMeta metadata = 1`). Generic, so a new kind
// (NIC, NVSwitch) reuses it unchanged.
//
// Compact by design: an object keeps only its wire encoding, plus the key,
// labels and revision the store indexes and filters on. Every reader that
// answers a client (Get, List, Watch) sends those bytes as they are, so a
// watch event fans out to N watchers with no serialization at all; the few
// readers that need the fields (a write building the next version from the
// current one, the lease controller, metrics) parse a copy on demand with
// Parse(). A parsed message takes 4.5 to 5 times its encoding, and most
// stored versions are read only as bytes (every history event, nearly every
// object between two writes), so keeping them parsed cost most of the
// server's memory.
//
// Immutable after construction (the store's contract, S11).
#pragma once

#include <google/protobuf/arena.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "store/backend.h"
#include "store/object.h"

namespace deviceapi::apiserver {

using ArenaPtr = std::unique_ptr<google::protobuf::Arena>;

// An arena sized for a message of about `wire_bytes` encoded bytes. A parsed
// message takes 4.5 to 5 times its encoding on an arena (more for tiny
// ones), so the first block holds all of it in one allocation. Should a
// message need more, further blocks stay small (an arena's next block
// doubles the last one up to max_block_size, which would waste half of it).
inline std::unique_ptr<google::protobuf::Arena> NewMessageArena(std::size_t wire_bytes) {
  google::protobuf::ArenaOptions options;
  // A multiple of 8: the arena keeps its cleanup list at the end of each
  // block, and an odd block size would misalign it.
  const std::size_t wanted = std::clamp<std::size_t>(5 * wire_bytes + 1024, 1024, 64 << 10);
  options.start_block_size = (wanted + 7) & ~std::size_t{7};
  options.max_block_size = 8 << 10;
  return std::make_unique<google::protobuf::Arena>(options);
}

// A parsed message on an arena of its own.
template <typename Msg>
class ParsedMessage {
 public:
  ParsedMessage(std::unique_ptr<google::protobuf::Arena> arena, Msg* message)
      : arena_(std::move(arena)), message_(message) {}
  const Msg& operator*() const { return *message_; }
  const Msg* operator->() const { return message_; }
  Msg* mutable_message() { return message_; }

 private:
  std::unique_ptr<google::protobuf::Arena> arena_;  // owns *message_
  Msg* message_;
};

template <typename Msg>
class ProtoObject final : public store::Object {
 public:
  // Stamps metadata.resource_version of `message` with `revision` (in
  // place: the caller's message is the new version's) and keeps its
  // encoding. `message` may live on any arena; nothing points into it
  // afterwards.
  ProtoObject(Msg* message, store::Revision revision) : revision_(revision) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof(digits), revision).ptr;
    message->mutable_metadata()->set_resource_version(digits, static_cast<std::size_t>(end - digits));
    message->SerializeToString(&bytes_);
    Index(*message);
  }

  // An object from its stored encoding (resource_version included), or
  // null when the bytes do not parse or carry no revision.
  static std::shared_ptr<const ProtoObject> FromEncoding(std::string_view bytes) {
    if (bytes.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
    google::protobuf::Arena arena;
    Msg* message = google::protobuf::Arena::CreateMessage<Msg>(&arena);
    if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return nullptr;
    const std::string& rv = message->metadata().resource_version();
    store::Revision revision = 0;
    auto [end, error] = std::from_chars(rv.data(), rv.data() + rv.size(), revision);
    if (rv.empty() || error != std::errc() || end != rv.data() + rv.size()) return nullptr;
    return std::shared_ptr<const ProtoObject>(new ProtoObject(std::string(bytes), *message, revision));
  }

  // The wire encoding of this version (resource_version included).
  const std::string& Serialized() const { return bytes_; }

  // A parsed copy on `arena` (the caller's, e.g. its request's), or null if
  // parsing fails, which cannot happen for bytes this class encoded.
  Msg* ParseOnto(google::protobuf::Arena* arena) const {
    Msg* message = google::protobuf::Arena::CreateMessage<Msg>(arena);
    if (!message->ParseFromArray(bytes_.data(), static_cast<int>(bytes_.size()))) return nullptr;
    return message;
  }
  // A parsed copy on an arena of its own.
  ParsedMessage<Msg> Parse() const {
    auto arena = NewMessageArena(bytes_.size());
    Msg* message = ParseOnto(arena.get());
    if (message == nullptr) message = google::protobuf::Arena::CreateMessage<Msg>(arena.get());
    return ParsedMessage<Msg>(std::move(arena), message);
  }

  const store::ObjectKey& key() const override { return key_; }
  const store::Labels& labels() const override { return labels_; }
  store::Revision revision() const override { return revision_; }
  // What this version keeps alive: the object and its shared_ptr control
  // block (one allocation with make_shared, plus malloc's header), the
  // encoding, the key and the label index.
  std::size_t ByteSize() const override {
    return sizeof(*this) + 32 + store::StringFootprint(bytes_) + store::LabelsFootprint(labels_) +
           store::StringFootprint(key_.namespace_name) + store::StringFootprint(key_.name);
  }

  // The payload of an object this layer put into the store; null if `object`
  // is of another kind (a bug: the caller maps it to INTERNAL).
  static std::shared_ptr<const ProtoObject> From(const store::ObjectPtr& object) {
    return std::dynamic_pointer_cast<const ProtoObject>(object);
  }

 private:
  ProtoObject(std::string bytes, const Msg& parsed, store::Revision revision)
      : revision_(revision), bytes_(std::move(bytes)) {
    Index(parsed);
  }
  void Index(const Msg& message) {
    key_.namespace_name = message.metadata().namespace_();
    key_.name = message.metadata().name();
    for (const auto& [k, v] : message.metadata().labels()) labels_.emplace(k, v);
  }

  store::Revision revision_;
  std::string bytes_;
  store::ObjectKey key_;
  store::Labels labels_;
};

// Encodes ProtoObjects for a persistent store::Backend: the message's wire
// bytes, resource_version included, so Decode restores the revision too.
template <typename Msg>
class ProtoCodec final : public store::ObjectCodec {
 public:
  std::string Encode(const store::Object& object) const override {
    const auto* proto = dynamic_cast<const ProtoObject<Msg>*>(&object);
    return proto ? proto->Serialized() : std::string();
  }
  store::Result<store::ObjectPtr> Decode(std::string_view bytes) const override {
    auto object = ProtoObject<Msg>::FromEncoding(bytes);
    if (!object) {
      return store::MakeError(store::ErrorCode::kInternal,
                              "stored object does not parse or has no revision");
    }
    return store::ObjectPtr(std::move(object));
  }
};

}  // namespace deviceapi::apiserver
