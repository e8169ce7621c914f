// A small Object payload for store tests: a key, labels, a revision and a
// data string whose length drives ByteSize (S14 byte bounds).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "store/sqlite_backend.h"
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

// TestObjects as bytes for a durable backend: length-prefixed fields.
class TestCodec final : public ObjectCodec {
 public:
  std::string Encode(const Object& object) const override {
    const auto& o = static_cast<const TestObject&>(object);
    std::string out;
    Put(&out, o.key().namespace_name);
    Put(&out, o.key().name);
    Put(&out, std::to_string(o.revision()));
    Put(&out, o.data());
    for (const auto& [k, v] : o.labels()) {
      Put(&out, k);
      Put(&out, v);
    }
    return out;
  }
  Result<ObjectPtr> Decode(std::string_view bytes) const override {
    std::size_t at = 0;
    std::string fields[4];
    for (auto& f : fields) {
      if (!Get(bytes, &at, &f)) return MakeError(ErrorCode::kInternal, "truncated test object");
    }
    Labels labels;
    std::string k, v;
    while (at < bytes.size()) {
      if (!Get(bytes, &at, &k) || !Get(bytes, &at, &v)) return MakeError(ErrorCode::kInternal, "truncated labels");
      labels.emplace(k, v);
    }
    return ObjectPtr(std::make_shared<TestObject>(ObjectKey{fields[0], fields[1]}, std::move(labels),
                                                  std::stoull(fields[2]), fields[3]));
  }

 private:
  static void Put(std::string* out, const std::string& s) {
    std::uint32_t n = static_cast<std::uint32_t>(s.size());
    out->append(reinterpret_cast<const char*>(&n), sizeof(n));
    out->append(s);
  }
  static bool Get(std::string_view in, std::size_t* at, std::string* s) {
    std::uint32_t n = 0;
    if (in.size() - *at < sizeof(n)) return false;
    std::memcpy(&n, in.data() + *at, sizeof(n));
    *at += sizeof(n);
    if (in.size() - *at < n) return false;
    s->assign(in.substr(*at, n));
    *at += n;
    return true;
  }
};

enum class BackendKind { kMemory, kSqlite };

inline std::string BackendName(const ::testing::TestParamInfo<BackendKind>& info) {
  return info.param == BackendKind::kMemory ? "memory" : "sqlite";
}

// An object's encoded bytes as an SQL blob literal (x'…'): for writing a
// file the way an older server left it.
inline std::string SqlBlob(const Object& object) {
  static const char* digits = "0123456789abcdef";
  std::string out = "x'";
  for (unsigned char c : TestCodec().Encode(object)) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out + "'";
}

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "store-test-XXXXXX").string();
    path_ = ::mkdtemp(templ.data()) ? templ : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The tests' histories are short: compaction runs of 64 events by default
// happen within them.
// `history_max_events` is the store's (it sizes the event slots).
inline std::shared_ptr<SqliteBackend> OpenSqlite(const std::string& path, std::uint64_t compact_events = 64,
                                                 std::uint64_t history_max_events = 10000) {
  SqliteOptions o;
  o.path = path;
  o.codec = std::make_shared<TestCodec>();
  o.compact_events = compact_events;
  o.history_max_events = history_max_events;
  auto b = SqliteBackend::Open(std::move(o));
  EXPECT_TRUE(b.ok()) << (b.ok() ? "" : b.error().message);
  return b.ok() ? *b : nullptr;
}

// The conformance suites run on every backend (TEST_P). OpenStore() opens a
// store on the parameter's backend; for sqlite every call gets a new file.
class BackendTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  std::shared_ptr<Backend> NewBackend() {
    if (GetParam() == BackendKind::kMemory) return std::make_shared<MemoryBackend>();
    return OpenSqlite(dir_.path() + "/state-" + std::to_string(files_++) + ".db");
  }
  std::unique_ptr<Store> OpenStore(StoreOptions o = SmallOptions()) {
    if (!o.backend) o.backend = NewBackend();
    return testing::OpenStore(std::move(o));
  }

 private:
  TempDir dir_;
  int files_ = 0;
};

#define DEVICEAPI_ON_ALL_BACKENDS(suite)                                                              \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                                         \
                           ::testing::Values(::deviceapi::store::testing::BackendKind::kMemory,      \
                                             ::deviceapi::store::testing::BackendKind::kSqlite),     \
                           ::deviceapi::store::testing::BackendName)

}  // namespace deviceapi::store::testing
