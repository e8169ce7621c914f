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
TEST(HistoryRing, BoundedByCountS14) {
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
// Every event pays for its own slot too (HistoryRing::kEventOverhead).
constexpr std::size_t kEv = HistoryRing::kEventOverhead;

// S14
TEST(HistoryRing, BoundedByBytesS14) {
  const std::size_t one = MakeEvent(1, 1000).object->ByteSize() + kEv;
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

ObjectPtr Version(const std::string& name, Revision r) {
  return std::make_shared<TestObject>(ObjectKey{"ns", name}, Labels{}, r, std::string(1000, 'x'));
}

Event Modified(ObjectPtr object, ObjectPtr previous) {
  Event e;
  e.type = EventType::kModified;
  e.revision = object->revision();
  e.object = std::move(object);
  e.previous = std::move(previous);
  return e;
}

// S14: the bound covers every version the events hold, `previous` included,
// each version once.
TEST(HistoryRing, CountsEachHeldVersionOnceS14) {
  const std::size_t one = Version("a", 1)->ByteSize();
  HistoryRing h(1000, 1 << 20);
  h.Reset(10);
  std::vector<Event> evicted;
  // b@5 predates the history: only this event holds it.
  h.Append(Modified(Version("b", 11), Version("b", 5)), &evicted);
  EXPECT_EQ(h.bytes(), 2 * one + kEv);
  // A chain on one object: each version is the next event's previous.
  auto a12 = Version("a", 12), a13 = Version("a", 13), a14 = Version("a", 14);
  h.Append(Modified(a12, Version("a", 3)), &evicted);
  h.Append(Modified(a13, a12), &evicted);
  h.Append(Modified(a14, a13), &evicted);
  EXPECT_EQ(h.bytes(), 2 * one + 4 * one + 4 * kEv);  // b@5 b@11, a@3 a@12 a@13 a@14
  EXPECT_TRUE(evicted.empty());
}

// S14: evicting the event that created a version another event still holds
// keeps that version charged, so the bound stays true.
TEST(HistoryRing, ChargePassesOnWhenCreatorIsEvictedS14) {
  const std::size_t one = Version("a", 1)->ByteSize();
  HistoryRing h(2, 1 << 20);
  h.Reset(10);
  std::vector<Event> evicted;
  auto a11 = Version("a", 11), a12 = Version("a", 12), a13 = Version("a", 13);
  h.Append(Modified(a11, Version("a", 2)), &evicted);
  h.Append(Modified(a12, a11), &evicted);
  EXPECT_EQ(h.bytes(), 3 * one + 2 * kEv);
  h.Append(Modified(a13, a12), &evicted);  // count bound 2: the a@11 event goes
  ASSERT_EQ(evicted.size(), 1u);
  // Held: a@11 (previous of the a@12 event), a@12, a@13. a@2 is released.
  EXPECT_EQ(h.bytes(), 3 * one + 2 * kEv);
  h.Append(Modified(Version("a", 14), a13), &evicted);
  EXPECT_EQ(h.bytes(), 3 * one + 2 * kEv);  // a@12, a@13, a@14
}

// S14: many objects each changed once: every event holds two versions, and
// the byte bound admits half as many events as it would without them.
TEST(HistoryRing, ByteBoundCoversPreviousVersionsS14) {
  const std::size_t one = Version("a", 1)->ByteSize();
  HistoryRing h(1000, 4 * (2 * one + kEv));
  h.Reset(100);
  std::vector<Event> evicted;
  for (Revision r = 101; r <= 120; ++r) {
    std::string name = "gpu-" + std::to_string(r);
    h.Append(Modified(Version(name, r), Version(name, 1)), &evicted);
  }
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(h.bytes(), 4 * (2 * one + kEv));
  EXPECT_EQ(h.Start(), 116u);
}

// S14: events of tiny objects are bounded by what the events themselves
// take, not only by their count.
TEST(HistoryRing, EventsPayForThemselvesS14) {
  HistoryRing h(1'000'000, 100 * kEv);
  h.Reset(0);
  std::vector<Event> evicted;
  for (Revision r = 1; r <= 1000; ++r) {
    Event e;
    e.type = EventType::kDeleted;
    e.revision = r;
    h.Append(std::move(e), &evicted);
  }
  EXPECT_EQ(h.size(), 100u);
  EXPECT_EQ(h.bytes(), 100 * kEv);
}

}  // namespace
}  // namespace deviceapi::store
