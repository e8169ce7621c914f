// ProtoObject<Msg>: a store::Object whose payload is a protobuf resource
// message (any kind with `ObjectMeta metadata = 1`). Generic, so a new kind
// (NIC, NVSwitch) reuses it unchanged.
//
// The message lives on a protobuf Arena that the object owns: usually the
// arena its write request was parsed onto, so the request's status or spec
// becomes the stored object's by a pointer swap, an object is a few arena
// blocks instead of hundreds of small allocations, and freeing it (when the
// history drops it) is as cheap. The footprint used to bound the history
// (S14) is what the arena really took, not an estimate of it.
//
// Immutable after construction (the store's contract, S11). The serialized
// bytes are computed at most once, on first use, and shared by every reader:
// a watch event fans out to N watchers with one serialization.
#pragma once

#include <google/protobuf/arena.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "store/backend.h"
#include "store/object.h"

namespace deviceapi::apiserver {

// An arena sized for a message of about `wire_bytes` encoded bytes. A parsed
// Gpu takes 4.5 to 5 times its encoding on an arena (more for tiny ones), so
// the first block holds all of it in one allocation; stored objects are
// mostly that block, so its slack is what history and objects waste. Should
// a message need more, further blocks stay small (an arena's next block
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

// A copy of `message` on an arena of its own, sized for it.
template <typename Msg>
std::pair<std::unique_ptr<google::protobuf::Arena>, Msg*> CopyOntoArena(const Msg& message) {
  auto arena = NewMessageArena(message.ByteSizeLong());
  Msg* copy = google::protobuf::Arena::CreateMessage<Msg>(arena.get());
  *copy = message;
  return {std::move(arena), copy};
}

template <typename Msg>
class ProtoObject final : public store::Object {
 public:
  // Adopts `message`, which must live on `arena`, and stamps
  // metadata.resource_version with `revision`.
  ProtoObject(std::unique_ptr<google::protobuf::Arena> arena, Msg* message, store::Revision revision)
      : arena_(std::move(arena)), message_(message), revision_(revision) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof(digits), revision).ptr;
    message_->mutable_metadata()->set_resource_version(digits, static_cast<std::size_t>(end - digits));
    key_.namespace_name = message_->metadata().namespace_();
    key_.name = message_->metadata().name();
    for (const auto& [k, v] : message_->metadata().labels()) labels_.emplace(k, v);
    // What the arena holds, plus the encoded size twice: once as an upper
    // bound of the string bytes that live outside the arena (a std::string
    // on an arena keeps a long value on the heap), once for the serialized
    // copy cached beside the message; plus the label index and key copied
    // out of the message, and the object itself with its shared_ptr block.
    byte_size_ = sizeof(*this) + 32 + arena_->SpaceAllocated() + 2 * message_->ByteSizeLong() +
                 store::LabelsFootprint(labels_) + store::StringFootprint(key_.namespace_name) +
                 store::StringFootprint(key_.name);
  }

  // Copies `message` onto an arena of the object's own.
  ProtoObject(const Msg& message, store::Revision revision)
      : ProtoObject(CopyOntoArena(message), revision) {}
  ProtoObject(std::pair<std::unique_ptr<google::protobuf::Arena>, Msg*> on_arena,
              store::Revision revision)
      : ProtoObject(std::move(on_arena.first), on_arena.second, revision) {}

  const Msg& message() const { return *message_; }

  const store::ObjectKey& key() const override { return key_; }
  const store::Labels& labels() const override { return labels_; }
  store::Revision revision() const override { return revision_; }
  std::size_t ByteSize() const override { return byte_size_; }

  // The wire encoding of message(), computed once (thread-safe).
  const std::string& Serialized() const {
    std::call_once(serialized_once_, [this] { message_->SerializeToString(&serialized_); });
    return serialized_;
  }

  // The payload of an object this layer put into the store; null if `object`
  // is of another kind (a bug: the caller maps it to INTERNAL).
  static std::shared_ptr<const ProtoObject> From(const store::ObjectPtr& object) {
    return std::dynamic_pointer_cast<const ProtoObject>(object);
  }

 private:
  // Declared first: destroyed last, after everything that points into it.
  std::unique_ptr<google::protobuf::Arena> arena_;
  Msg* message_;
  store::Revision revision_;
  store::ObjectKey key_;
  store::Labels labels_;
  std::size_t byte_size_ = 0;
  mutable std::once_flag serialized_once_;
  mutable std::string serialized_;
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
    auto arena = NewMessageArena(bytes.size());
    Msg* message = google::protobuf::Arena::CreateMessage<Msg>(arena.get());
    if (bytes.size() > static_cast<std::size_t>(INT_MAX) ||
        !message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return store::MakeError(store::ErrorCode::kInternal, "stored object does not parse");
    }
    store::Revision revision = 0;
    try {
      revision = std::stoull(message->metadata().resource_version());
    } catch (const std::exception&) {
      return store::MakeError(store::ErrorCode::kInternal, "stored object has no revision");
    }
    return store::ObjectPtr(std::make_shared<ProtoObject<Msg>>(std::move(arena), message, revision));
  }
};

}  // namespace deviceapi::apiserver
