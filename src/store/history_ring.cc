#include "store/history_ring.h"

#include <algorithm>

namespace deviceapi::store {

void HistoryRing::Append(Event event, std::vector<Event>* evicted) {
  bytes_ += kEventOverhead + SizeOf(event.object);
  bool charged = false;
  if (event.previous) {
    // A version's revision is that of the event that created it; events
    // after start_ are retained.
    if (event.previous->revision() > start_ && !events_.empty()) {
      held_as_previous_[event.previous.get()] = appended_;
    } else {
      bytes_ += SizeOf(event.previous);
      charged = true;
    }
  }
  events_.push_back(std::move(event));
  charges_previous_.push_back(charged);
  ++appended_;
  while (!events_.empty() && (events_.size() > max_events_ || bytes_ > max_bytes_)) {
    // Once an event is gone, the state just after it is the oldest one that
    // can still be rebuilt or watched from.
    Event& front = events_.front();
    start_ = front.revision;
    bytes_ -= kEventOverhead;
    if (charges_previous_.front()) bytes_ -= SizeOf(front.previous);
    auto held = held_as_previous_.find(front.object.get());
    if (held != held_as_previous_.end()) {
      // A later event keeps this version alive: it carries the charge now.
      charges_previous_[held->second - (appended_ - events_.size())] = true;
      held_as_previous_.erase(held);
    } else {
      bytes_ -= SizeOf(front.object);
    }
    evicted->push_back(std::move(front));
    events_.pop_front();
    charges_previous_.pop_front();
  }
}

std::vector<Event> HistoryRing::Since(Revision after) const {
  auto first = std::upper_bound(events_.begin(), events_.end(), after,
                                [](Revision r, const Event& e) { return r < e.revision; });
  return std::vector<Event>(first, events_.end());
}

}  // namespace deviceapi::store
