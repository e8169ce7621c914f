// S33: the total size of the stored objects is bounded. A write that would
// grow it past the bound is refused with kResourceExhausted and a message
// naming the limit; writes that do not grow it always pass, and the store
// keeps serving.
#include <gtest/gtest.h>

#include <string>

#include "store/store.h"
#include "test_object.h"

namespace deviceapi::store {
namespace {

using namespace testing;  // NOLINT

constexpr std::size_t kData = 1000;
const std::size_t kObject = sizeof(TestObject) + kData;  // TestObject::ByteSize()

std::unique_ptr<Store> BoundedStore(std::size_t objects) {
  StoreOptions o = SmallOptions();
  o.max_total_object_bytes = objects * kObject;
  return OpenStore(o);
}

// S33
TEST(StoreBounds, TotalObjectBytesBoundCreatesS33) {
  auto s = BoundedStore(5);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Create(*s, Key("ns", std::to_string(i)), {}, std::string(kData, 'x')).ok());
  EXPECT_EQ(s->Stats().object_bytes, 5 * kObject);

  const Revision before = s->CurrentRevision();
  auto refused = Create(*s, Key("ns", "6"), {}, std::string(kData, 'x'));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.error().message.find("over the limit of " + std::to_string(5 * kObject) + " bytes"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(s->CurrentRevision(), before);  // no revision taken, nothing stored
  EXPECT_EQ(s->Stats().objects, 5u);

  // Still serving: reads, and writes that do not grow the total.
  EXPECT_TRUE(s->List().ok());
  EXPECT_TRUE(Update(*s, Key("ns", "0"), std::string(kData, 'y')).ok());      // same size
  EXPECT_TRUE(Update(*s, Key("ns", "1"), std::string(kData / 2, 'y')).ok());  // shrinks
  EXPECT_EQ(s->Stats().object_bytes, 5 * kObject - kData / 2);
  EXPECT_TRUE(Delete(*s, Key("ns", "2")).ok());
  EXPECT_EQ(s->Stats().object_bytes, 4 * kObject - kData / 2);
  // The room freed is usable again; growing past the bound is not.
  EXPECT_TRUE(Create(*s, Key("ns", "6"), {}, std::string(kData, 'x')).ok());
  auto grow = Update(*s, Key("ns", "1"), std::string(kData, 'y'));
  EXPECT_TRUE(grow.ok()) << "exactly at the bound is within it";
  auto over = Update(*s, Key("ns", "1"), std::string(kData + 1, 'y'));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(s->Stats().object_bytes, 5 * kObject);
}

// S33: 0 means no bound.
TEST(StoreBounds, ZeroMeansUnboundedS33) {
  StoreOptions o = SmallOptions();
  o.max_total_object_bytes = 0;
  auto s = OpenStore(o);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Create(*s, Key("ns", std::to_string(i)), {}, std::string(100000, 'x')).ok());
}

}  // namespace
}  // namespace deviceapi::store
