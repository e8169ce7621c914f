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
  // Approximate heap footprint in bytes, used to bound the history (S14).
  virtual std::size_t ByteSize() const = 0;
};

using ObjectPtr = std::shared_ptr<const Object>;

}  // namespace deviceapi::store
