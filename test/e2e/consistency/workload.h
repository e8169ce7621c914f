// The consistency test's clients, over raw gRPC stubs on the server's Unix
// socket, each on a thread of its own, recording into a History:
//   - writers: compare-and-swap on a counter kept in a condition message of
//     a GPU's status (Get, then UpdateGpuStatus with that resource_version;
//     on ABORTED re-read), recording each swap and its outcome;
//   - readers: Get and List, some at the resource_version of the latest
//     acknowledged write, some List at an exact earlier revision;
//   - watchers: list, then watch from the list's revision; on any end of the
//     stream, watch again from the last revision delivered. "Steady" ones
//     end their own streams every few seconds; "slow" ones stop reading for
//     a while so the server drops them as too slow (S16); "selector" ones
//     list and watch one label group only.
// Every client retries after UNAVAILABLE, so the workload rides through
// server restarts. Stop() ends every client and hands its records over.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "device_api.grpc.pb.h"
#include "history.h"

namespace deviceapi::consistency {

namespace v1 = nvidia::nvsentinel::v1alpha1;

// The condition holding the counter, and a padding one that makes events
// big enough for a paused watcher's transport window to fill quickly.
inline constexpr const char* kCounterCondition = "example.com/Counter";
inline constexpr const char* kPaddingCondition = "example.com/Padding";

struct WorkloadOptions {
  std::string socket;             // path of the server's Unix socket
  std::vector<std::string> keys;  // the GPUs written; they exist before Start
  // Label selector of the "selector" watchers; `selected` the keys it matches.
  std::string selector;
  std::vector<std::string> selected;
  int writers = 4;
  int readers = 2;
  int steady_watchers = 2;
  int slow_watchers = 1;
  int selector_watchers = 1;
  std::chrono::milliseconds writer_pause{2};
  std::chrono::milliseconds reader_pause{2};
  std::chrono::milliseconds slow_pause{1500};  // a slow watcher's nap
};

// The counter of a GPU as written by the workload (0 without one).
std::int64_t CounterOf(const v1::Gpu& gpu);
std::uint64_t RevisionOf(const std::string& resource_version);
std::int64_t NowNs();
std::shared_ptr<grpc::Channel> WorkloadChannel(const std::string& socket, bool small_window);

class Workload {
 public:
  Workload(WorkloadOptions options, History* history);
  ~Workload();  // Stop()
  void Start();
  // Ends every client (open watches are cancelled) and joins them.
  void Stop();

 private:
  class Watch;
  void Writer(int id);
  void Reader(int id);
  void Watcher(const std::string& name, const std::string& selector, bool slow, bool rotate);
  bool Stopping() const { return stop_.load(); }

  const WorkloadOptions options_;
  History* const history_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> highest_acked_{0};
  std::mutex contexts_mu_;  // open watches' contexts, to cancel at Stop
  std::vector<grpc::ClientContext*> contexts_;
  std::vector<std::thread> threads_;
};

}  // namespace deviceapi::consistency
