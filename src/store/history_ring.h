// The most recent events, bounded by count and by bytes (S14). Not
// thread-safe: the store guards it with its own lock.
//
// Byte accounting counts every object version the retained events hold,
// each once: an event's `object`, and its `previous` unless that is the
// `object` of an earlier retained event. With many objects each changed
// rarely (1,024 GPUs, a few hundred events), nearly every `previous` is a
// version no other event holds, and ignoring them would let the history take
// twice its bound. When the event that created a version is evicted while a
// later event still holds it as `previous`, the charge passes to that event.
// Each event also pays for itself: its slot in the ring and its share of the
// bookkeeping above.
#pragma once

#include <cstddef>
#include <deque>
#include <unordered_map>
#include <vector>

#include "store/event.h"

namespace deviceapi::store {

class HistoryRing {
 public:
  HistoryRing(std::size_t max_events, std::size_t max_bytes)
      : max_events_(max_events), max_bytes_(max_bytes) {}

  // Sets the revision at which an empty history starts (the store's revision
  // when it opened): watches from it need no event.
  void Reset(Revision start) {
    events_.clear();
    charges_previous_.clear();
    held_as_previous_.clear();
    bytes_ = 0;
    start_ = start;
  }

  // Appends an event (revisions strictly increasing) and evicts the oldest
  // ones beyond the bounds into `evicted`, so that the caller can free them
  // after releasing its lock.
  void Append(Event event, std::vector<Event>* evicted);

  // The oldest revision N whose successors are all retained: watching from N
  // and listing exactly at N are possible iff N >= Start().
  Revision Start() const { return start_; }

  // Revision of the oldest retained event, 0 when empty.
  Revision OldestEventRevision() const { return events_.empty() ? 0 : events_.front().revision; }

  // Copies of every retained event with revision > after, oldest first.
  // Requires after >= Start().
  std::vector<Event> Since(Revision after) const;

  // Retained events newest first, for rolling state back (List exact).
  auto rbegin() const { return events_.rbegin(); }
  auto rend() const { return events_.rend(); }

  std::size_t size() const { return events_.size(); }
  std::size_t bytes() const { return bytes_; }

  // What an event costs besides the versions it holds: its slot in the ring
  // and in charges_previous_, and a node of held_as_previous_ (most events
  // create one) with its bucket.
  static constexpr std::size_t kEventOverhead = sizeof(Event) + 1 + 64;

 private:
  static std::size_t SizeOf(const ObjectPtr& o) { return o ? o->ByteSize() : 0; }

  std::size_t max_events_;
  std::size_t max_bytes_;
  std::deque<Event> events_;
  // Parallel to events_: whether that event's `previous` is charged to it.
  std::deque<bool> charges_previous_;
  // Versions created by a retained event and held as `previous` by a later
  // one, mapped to the later event's sequence number (see the header note).
  std::unordered_map<const Object*, std::uint64_t> held_as_previous_;
  std::uint64_t appended_ = 0;  // sequence number of the next event
  std::size_t bytes_ = 0;
  Revision start_ = 0;
};

}  // namespace deviceapi::store
