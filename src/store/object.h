// The store's view of an object: a key, labels, a revision and a size. The
// payload (a protobuf message for GPUs) lives in a subclass the store never
// looks into, so the store stays free of gRPC and of any one resource kind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace deviceapi::store {

using Revision = std::uint64_t;
using Labels = std::map<std::string, std::string, std::less<>>;

struct ObjectKey {
  std::string namespace_name;
  std::string name;
  auto operator<=>(const ObjectKey&) const = default;
};

// An immutable snapshot of one object at one revision.
//
// Contract: once an Object has been handed to the store it is never mutated
// again; readers on any thread share it through ObjectPtr without locks (S11).
// Subclasses may cache derived data (e.g. serialized bytes) lazily as long as
// that caching is thread-safe.
class Object {
 public:
  virtual ~Object() = default;
  virtual const ObjectKey& key() const = 0;
  // The object's labels, for selector matching (S10, S17).
  virtual const Labels& labels() const = 0;
  // The revision of the object's last change (its resource_version).
  virtual Revision revision() const = 0;
  // Approximate heap footprint in bytes: everything this version keeps
  // alive, used to bound the history (S14) and the stored objects (S33).
  virtual std::size_t ByteSize() const = 0;
};

using ObjectPtr = std::shared_ptr<const Object>;

// Heap bytes behind a std::string: none while it fits the short-string
// buffer (15 characters in libstdc++), else its buffer rounded up to
// malloc's 16-byte granule plus malloc's header.
inline std::size_t StringFootprint(const std::string& s) {
  return s.size() <= 15 ? 0 : ((s.size() + 1 + 15) & ~std::size_t{15}) + 16;
}

// Heap bytes of a Labels map: per label one tree node (four links and the
// pair, plus malloc's header) and the keys' and values' own buffers. For an
// Object's ByteSize: 64 labels with long keys take about 9 KiB.
inline std::size_t LabelsFootprint(const Labels& labels) {
  constexpr std::size_t kNode = 4 * sizeof(void*) + sizeof(Labels::value_type) + 16;
  std::size_t bytes = labels.size() * kNode;
  for (const auto& [key, value] : labels) bytes += StringFootprint(key) + StringFootprint(value);
  return bytes;
}

}  // namespace deviceapi::store
