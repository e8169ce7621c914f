#include "store/history_ring.h"

#include <algorithm>

namespace deviceapi::store {

void HistoryRing::Append(Event event, std::vector<Event>* evicted) {
  bytes_ += SizeOf(event);
  events_.push_back(std::move(event));
  while (!events_.empty() && (events_.size() > max_events_ || bytes_ > max_bytes_)) {
    // Once an event is gone, the state just after it is the oldest one that
    // can still be rebuilt or watched from.
    start_ = events_.front().revision;
    bytes_ -= SizeOf(events_.front());
    evicted->push_back(std::move(events_.front()));
    events_.pop_front();
  }
}

std::vector<Event> HistoryRing::Since(Revision after) const {
  auto first = std::upper_bound(events_.begin(), events_.end(), after,
                                [](Revision r, const Event& e) { return r < e.revision; });
  return std::vector<Event>(first, events_.end());
}

}  // namespace deviceapi::store
