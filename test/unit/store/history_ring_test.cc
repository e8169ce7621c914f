// S14: the history keeps the newest events within a count and a byte bound.
#include "store/history_ring.h"

#include <gtest/gtest.h>

#include "test_object.h"

namespace deviceapi::store {
namespace {

using testing::TestObject;

Event MakeEvent(Revision r, std::size_t data) {
  Event e;
  e.type = EventType::kAdded;
  e.revision = r;
  e.object = std::make_shared<TestObject>(ObjectKey{"ns", "o" + std::to_string(r)}, Labels{}, r, std::string(data, 'x'));
  return e;
}

// S14
TEST(HistoryRing, S14_BoundedByCount) {
  HistoryRing h(3, 1 << 20);
  h.Reset(10);
  EXPECT_EQ(h.Start(), 10u);
  EXPECT_EQ(h.OldestEventRevision(), 0u);
  std::vector<Event> evicted;
  for (Revision r = 11; r <= 15; ++r) h.Append(MakeEvent(r, 10), &evicted);
  EXPECT_EQ(h.size(), 3u);
  ASSERT_EQ(evicted.size(), 2u);  // handed back, oldest first, for the caller to free
  EXPECT_EQ(evicted[0].revision, 11u);
  EXPECT_EQ(evicted[1].revision, 12u);
  EXPECT_EQ(h.OldestEventRevision(), 13u);
  EXPECT_EQ(h.Start(), 12u);  // state at 12 is still rebuildable: 13.. are kept
  auto since = h.Since(12);
  ASSERT_EQ(since.size(), 3u);
  EXPECT_EQ(since.front().revision, 13u);
  EXPECT_EQ(h.Since(14).size(), 1u);
  EXPECT_EQ(h.Since(15).size(), 0u);
}

// S14
TEST(HistoryRing, S14_BoundedByBytes) {
  const std::size_t one = MakeEvent(1, 1000).object->ByteSize();
  HistoryRing h(1000, one * 4);
  h.Reset(0);
  std::vector<Event> evicted;
  for (Revision r = 1; r <= 10; ++r) h.Append(MakeEvent(r, 1000), &evicted);
  EXPECT_EQ(evicted.size(), 6u);
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(h.bytes(), one * 4);
  EXPECT_EQ(h.OldestEventRevision(), 7u);
  EXPECT_EQ(h.Start(), 6u);
  h.Append(MakeEvent(11, 5000), &evicted);  // bigger than the bound by itself: nothing fits
  EXPECT_EQ(h.size(), 0u);
  EXPECT_EQ(h.bytes(), 0u);
  EXPECT_EQ(h.Start(), 11u);
}

}  // namespace
}  // namespace deviceapi::store
