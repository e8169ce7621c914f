#include "store/event.h"

namespace deviceapi::store {

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded: return "ADDED";
    case EventType::kModified: return "MODIFIED";
    case EventType::kDeleted: return "DELETED";
    case EventType::kBookmark: return "BOOKMARK";
  }
  return "UNKNOWN";
}

}  // namespace deviceapi::store
