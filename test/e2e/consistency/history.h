// What the consistency test's clients did and saw, recorded while they run
// and checked afterwards (checks.h, linearizability.h).
//
// Thread-safe: clients append concurrently; the checks read it once every
// client has stopped.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "linearizability.h"

namespace deviceapi::consistency {

// One GPU as a client saw it: its resource version and the counter kept in
// its status.
struct Observed {
  std::string key;  // metadata.name
  std::uint64_t rv = 0;
  std::int64_t counter = 0;
  bool operator==(const Observed&) const = default;
};

struct ListRecord {
  std::string who;
  std::uint64_t asked = 0;      // resource_version sent ("" -> 0)
  bool exact = false;           // resource_version_match=Exact
  std::uint64_t revision = 0;   // ListMeta.resource_version
  std::vector<Observed> items;  // every GPU of the list
};

// A Get at a resource version: the answer must not be older (S9).
struct GetAtRecord {
  std::string who;
  std::uint64_t asked = 0;
  Observed seen;
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED
  Observed object;
};

struct WatchSegment {
  std::uint64_t from = 0;  // resource_version the watch was opened at
  std::vector<WatchEvent> events;
  int code = 0;  // grpc::StatusCode the stream ended with
  std::string message;
};

// One list-then-watch consumer: its list, then every watch it opened, each
// resuming from the last revision the previous one delivered.
struct WatcherRecord {
  std::string name;
  std::string selector;  // label selector of list and watches
  ListRecord list;
  std::vector<WatchSegment> segments;
};

class History {
 public:
  void AddOp(const std::string& key, CounterOp op);
  // A version a Get or List returned.
  void AddRead(const std::string& who, const Observed& seen);
  void AddAckedWrite(const Observed& written);
  void AddUnknownWrite(const std::string& key);
  void AddList(ListRecord list);
  void AddGetAt(GetAtRecord get);
  void AddWatcher(WatcherRecord watcher);

  // Read once the clients have stopped.
  std::map<std::string, std::vector<CounterOp>> ops;
  std::vector<Observed> acked_writes;
  std::map<std::string, int> unknown_writes;
  std::vector<ListRecord> lists;
  std::vector<GetAtRecord> gets_at;
  std::vector<std::pair<std::string, Observed>> reads;  // who, what
  std::vector<WatcherRecord> watchers;

 private:
  std::mutex mu_;
};

}  // namespace deviceapi::consistency
