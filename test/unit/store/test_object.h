// A small Object payload for store tests: a key, labels, a revision and a
// data string whose length drives ByteSize (S14 byte bounds).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "store/store.h"

namespace deviceapi::store::testing {

class TestObject final : public Object {
 public:
  TestObject(ObjectKey key, Labels labels, Revision revision, std::string data = "")
      : key_(std::move(key)), labels_(std::move(labels)), revision_(revision), data_(std::move(data)) {}

  const ObjectKey& key() const override { return key_; }
  const Labels& labels() const override { return labels_; }
  Revision revision() const override { return revision_; }
  std::size_t ByteSize() const override { return sizeof(*this) + data_.size(); }
  const std::string& data() const { return data_; }

 private:
  ObjectKey key_;
  Labels labels_;
  Revision revision_;
  std::string data_;
};

inline const TestObject& As(const ObjectPtr& p) { return static_cast<const TestObject&>(*p); }

inline ObjectKey Key(std::string ns, std::string name) { return ObjectKey{std::move(ns), std::move(name)}; }

inline StoreOptions SmallOptions() {
  StoreOptions o;
  o.initial_revision = 100;
  o.future_revision_wait = std::chrono::milliseconds(200);
  return o;
}

inline std::unique_ptr<Store> OpenStore(StoreOptions o = SmallOptions()) {
  auto s = std::make_unique<Store>(std::move(o));
  auto ok = s->Open();
  if (!ok.ok()) return nullptr;
  return s;
}

inline Result<ObjectPtr> Create(Store& s, const ObjectKey& key, Labels labels = {}, std::string data = "") {
  return s.Create(key, [&](Revision next) -> Result<ObjectPtr> {
    return ObjectPtr(std::make_shared<TestObject>(key, labels, next, data));
  });
}

// Sets data (and keeps labels unless given); a no-op when nothing changes.
inline Result<ObjectPtr> Update(Store& s, const ObjectKey& key, std::string data) {
  return s.Update(key, [&](const ObjectPtr& cur, Revision next) -> Result<ObjectPtr> {
    if (As(cur).data() == data) return cur;
    return ObjectPtr(std::make_shared<TestObject>(key, cur->labels(), next, data));
  });
}

inline Result<ObjectPtr> Relabel(Store& s, const ObjectKey& key, Labels labels) {
  return s.Update(key, [&](const ObjectPtr& cur, Revision next) -> Result<ObjectPtr> {
    return ObjectPtr(std::make_shared<TestObject>(key, labels, next, As(cur).data()));
  });
}

inline Result<ObjectPtr> Delete(Store& s, const ObjectKey& key) {
  return s.Delete(key, [&](const ObjectPtr& cur, Revision next) -> Result<ObjectPtr> {
    return ObjectPtr(std::make_shared<TestObject>(key, cur->labels(), next, As(cur).data()));
  });
}

}  // namespace deviceapi::store::testing
