// Where committed changes go to survive a restart. The store keeps the full
// current state in memory either way; a backend only loads it at start and
// persists each change before the write is acknowledged. Only the memory
// backend exists today; SQLite or etcd would implement this interface without
// any change above the store.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/event.h"
#include "store/result.h"

namespace deviceapi::store {

// Turns objects into bytes and back; provided by the resource layer, because
// only it knows the payload type.
class ObjectCodec {
 public:
  virtual ~ObjectCodec() = default;
  virtual std::string Encode(const Object& object) const = 0;
  virtual Result<ObjectPtr> Decode(const std::string& bytes) const = 0;
};

class Backend {
 public:
  struct Snapshot {
    Revision revision = 0;  // highest revision the backend ever committed
    std::vector<ObjectPtr> objects;
  };
  virtual ~Backend() = default;
  // Called once before the store serves anything.
  virtual Result<Snapshot> Load() = 0;
  // Called under the store's write lock, before the write becomes visible.
  // An error aborts the write; the client sees INTERNAL.
  virtual Result<bool> Commit(const Event& event) = 0;
  virtual const char* Name() const = 0;  // "memory", "sqlite", …
};

// Keeps nothing: a restart starts empty (providers re-register). The revision
// counter is still seeded from the clock so revisions never repeat (S2).
class MemoryBackend final : public Backend {
 public:
  Result<Snapshot> Load() override { return Snapshot{}; }
  Result<bool> Commit(const Event&) override { return true; }
  const char* Name() const override { return "memory"; }
};

}  // namespace deviceapi::store
