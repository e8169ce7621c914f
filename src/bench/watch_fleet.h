// A fleet of watch streams on gRPC's callback API (no thread per watcher),
// each recording the revision and arrival time of every event, so that after
// a run the bench can prove delivery: every acknowledged write seen by every
// watcher exactly once, in revision order (S12), and how long it took.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/connection.h"
#include "bench/latency.h"

namespace deviceapi::bench {

// A write the bench made and the server acknowledged.
struct AckedWrite {
  std::uint64_t revision = 0;
  std::int64_t sent_ns = 0;
  std::int64_t acked_ns = 0;
};

struct DeliveryReport {
  std::uint64_t delivered = 0;     // events matched to acknowledged writes
  std::uint64_t lost = 0;          // acknowledged writes some watcher never saw
  std::uint64_t duplicated = 0;    // events at or below a revision already seen
  std::uint64_t ended_early = 0;   // watchers whose stream ended before Stop()
  std::uint64_t bad_revision = 0;  // resource_version not a decimal revision
  std::string first_end_status;    // why the first early-ended watcher ended
  LatencySummary from_ack;         // receipt minus the writer's acknowledgement (>= 0)
  LatencySummary from_send;        // receipt minus the write's start
  std::uint64_t errors() const { return lost + duplicated + ended_early + bad_revision; }
};

// Whether the server starts a watch at a given resource version (S12): a
// watch from `revision` that neither fails nor ends within a short wait.
// NVSentinel's in-memory store refuses it (OUT_OF_RANGE); `why` says so.
bool WatchResumesFromRevision(Connection& c, const std::string& ns, const std::string& revision,
                              std::string* why);

class WatchFleet {
 public:
  // `count` watches of namespace `ns`, spread over connections of their own
  // (servers limit streams per connection). `from_revision`: each watch
  // starts at `start_revision` (S12); otherwise from now (an empty
  // resource_version, for servers that cannot resume a watch), and the
  // initial events such a watch may send first are skipped. Either way only
  // events after `start_revision` count.
  WatchFleet(const std::string& target, std::string ns, int count, std::string start_revision,
             bool from_revision = true);
  ~WatchFleet();
  void Start();
  // Waits until every live watcher has seen `revision` (or ended).
  bool WaitAllReached(std::uint64_t revision, std::chrono::milliseconds timeout);
  // Cancels every stream and waits for them to finish.
  void Stop();
  // Compares what each watcher saw with the acknowledged writes.
  DeliveryReport Verify(const std::vector<AckedWrite>& writes);
  int size() const { return static_cast<int>(watchers_.size()); }

 private:
  class Watcher;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Watcher>> watchers_;
  std::string ns_;
  std::string start_revision_;
  bool from_revision_;
  bool stopped_ = false;
};

}  // namespace deviceapi::bench
