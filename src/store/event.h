// One entry of the change stream: what watchers receive and the history keeps.
#pragma once

#include "store/object.h"

namespace deviceapi::store {

enum class EventType { kAdded, kModified, kDeleted, kBookmark };

const char* EventTypeName(EventType type);  // "ADDED", "MODIFIED", "DELETED", "BOOKMARK"

struct Event {
  EventType type = EventType::kAdded;
  // The store revision of this event. For BOOKMARK: the store's current revision.
  Revision revision = 0;
  // The new state; for DELETED the last state, stamped with the deletion's
  // revision (S7). Null for BOOKMARK.
  ObjectPtr object;
  // The state before this event (null for ADDED and BOOKMARK). Used to roll
  // history back for exact-revision lists (S9) and to turn a MODIFIED that
  // leaves or enters a watcher's selector into DELETED / ADDED for it.
  ObjectPtr previous;
  // BOOKMARK only: this bookmark ends the initial events of a
  // send_initial_events watch (annotation k8s.io/initial-events-end, S15).
  bool initial_events_end = false;
};

}  // namespace deviceapi::store
