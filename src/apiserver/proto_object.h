// ProtoObject<Msg>: a store::Object whose payload is a protobuf resource
// message (any kind with `ObjectMeta metadata = 1`). Generic, so a new kind
// (NIC, NVSwitch) reuses it unchanged.
//
// Immutable after construction (the store's contract, S11). The serialized
// bytes are computed at most once, on first use, and shared by every reader:
// a watch event fans out to N watchers with one serialization.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "store/backend.h"
#include "store/object.h"

namespace deviceapi::apiserver {

template <typename Msg>
class ProtoObject final : public store::Object {
 public:
  // Takes the message as built by the strategy; stamps
  // metadata.resource_version with `revision`.
  ProtoObject(Msg message, store::Revision revision)
      : message_(std::move(message)), revision_(revision) {
    message_.mutable_metadata()->set_resource_version(std::to_string(revision));
    key_.namespace_name = message_.metadata().namespace_();
    key_.name = message_.metadata().name();
    for (const auto& [k, v] : message_.metadata().labels()) labels_.emplace(k, v);
    // The message's heap footprint plus the serialized copy cached beside it;
    // computed once, as the object never changes.
    byte_size_ = sizeof(*this) + message_.SpaceUsedLong() - sizeof(Msg) + message_.ByteSizeLong();
  }

  const Msg& message() const { return message_; }

  const store::ObjectKey& key() const override { return key_; }
  const store::Labels& labels() const override { return labels_; }
  store::Revision revision() const override { return revision_; }
  std::size_t ByteSize() const override { return byte_size_; }

  // The wire encoding of message(), computed once (thread-safe).
  const std::string& Serialized() const {
    std::call_once(serialized_once_, [this] { message_.SerializeToString(&serialized_); });
    return serialized_;
  }

  // The payload of an object this layer put into the store; null if `object`
  // is of another kind (a bug: the caller maps it to INTERNAL).
  static std::shared_ptr<const ProtoObject> From(const store::ObjectPtr& object) {
    return std::dynamic_pointer_cast<const ProtoObject>(object);
  }

 private:
  Msg message_;
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
  store::Result<store::ObjectPtr> Decode(const std::string& bytes) const override {
    Msg message;
    if (!message.ParseFromString(bytes)) {
      return store::MakeError(store::ErrorCode::kInternal, "stored object does not parse");
    }
    store::Revision revision = 0;
    try {
      revision = std::stoull(message.metadata().resource_version());
    } catch (const std::exception&) {
      return store::MakeError(store::ErrorCode::kInternal, "stored object has no revision");
    }
    return store::ObjectPtr(std::make_shared<ProtoObject<Msg>>(std::move(message), revision));
  }
};

}  // namespace deviceapi::apiserver
