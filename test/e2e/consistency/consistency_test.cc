// The consistency checker: the real device-api-server under concurrent
// compare-and-swap writers, readers and list-then-watch watchers for a
// bounded time, then the recorded history is checked (checks.h): no
// acknowledged write lost, reads linearizable, every watcher saw every
// revision of its GPUs once, in order, across re-watches and evictions.
//
// DEVICEAPI_CONSISTENCY_SECONDS sets how long the workload runs (default 10).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "checks.h"
#include "test/e2e/server/test_support.h"
#include "workload.h"

namespace deviceapi::consistency {
namespace {

using deviceapi::testing::RunningServer;
using deviceapi::testing::StartServer;
using deviceapi::testing::TempDir;

std::chrono::milliseconds RunTime() {
  const char* env = std::getenv("DEVICEAPI_CONSISTENCY_SECONDS");
  return std::chrono::seconds(env != nullptr ? std::max(1, std::atoi(env)) : 10);
}

const std::vector<std::string> kKeys = {"gpu-0", "gpu-1", "gpu-2"};
const std::string kSelector = "group=a";
const std::vector<std::string> kSelected = {"gpu-0", "gpu-1"};

std::string Uuid(int i) {
  return "GPU-" + std::string(7, '0') + std::to_string(i) + "-0000-0000-0000-000000000000";
}

// Creates the GPUs; returns their initial states (empty on failure).
States CreateGpus(const std::string& socket) {
  auto stub = v1::GpuService::NewStub(WorkloadChannel(socket, false));
  States initial;
  for (std::size_t i = 0; i < kKeys.size(); ++i) {
    v1::CreateGpuRequest req;
    auto* gpu = req.mutable_gpu();
    gpu->mutable_metadata()->set_name(kKeys[i]);
    (*gpu->mutable_metadata()->mutable_labels())["group"] = i < kSelected.size() ? "a" : "b";
    gpu->mutable_spec()->set_uuid(Uuid(static_cast<int>(i)));
    v1::Gpu res;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s = stub->CreateGpu(&ctx, req, &res);
    if (!s.ok()) {
      ADD_FAILURE() << "create " << kKeys[i] << ": " << s.error_message();
      return {};
    }
    initial[kKeys[i]] = {kKeys[i], RevisionOf(res.metadata().resource_version()), CounterOf(res)};
  }
  return initial;
}

// The final state, and every event after `from` up to it, from the server's
// own history (one watch from `from`).
bool ReadBack(const std::string& socket, std::uint64_t from, States* final_state,
              std::vector<WatchEvent>* reference) {
  auto stub = v1::GpuService::NewStub(WorkloadChannel(socket, false));
  v1::ListGpusResponse list;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s = stub->ListGpus(&ctx, v1::ListGpusRequest(), &list);
    if (!s.ok()) {
      ADD_FAILURE() << "final list: " << s.error_message();
      return false;
    }
  }
  for (const auto& gpu : list.gpu_list().items()) {
    (*final_state)[gpu.metadata().name()] = {gpu.metadata().name(),
                                            RevisionOf(gpu.metadata().resource_version()), CounterOf(gpu)};
  }
  // The newest write the list shows (the workload deletes nothing). Not the
  // list's own revision: a server restarted with no write since resumes
  // above the file's revision (S2, S24), and no event carries that one.
  std::uint64_t last = from;
  for (const auto& gpu : list.gpu_list().items()) last = std::max(last, RevisionOf(gpu.metadata().resource_version()));
  if (last == from) return true;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::WatchGpusRequest req;
  req.mutable_opts()->set_resource_version(std::to_string(from));
  auto reader = stub->WatchGpus(&ctx, req);
  v1::WatchGpusResponse ev;
  while (reader->Read(&ev)) {
    if (ev.type() == "BOOKMARK") continue;
    const auto& gpu = ev.object();
    reference->push_back({ev.type(), {gpu.metadata().name(), RevisionOf(gpu.metadata().resource_version()),
                                       CounterOf(gpu)}});
    if (reference->back().object.rv >= last) {
      ctx.TryCancel();
      reader->Finish();
      return true;
    }
  }
  grpc::Status s = reader->Finish();
  ADD_FAILURE() << "reading the history back from " << from << " ended before " << last << ": "
                << s.error_code() << " " << s.error_message();
  return false;
}

void Report(const char* what, const std::vector<std::string>& problems) {
  std::string text;
  for (std::size_t i = 0; i < problems.size() && i < 10; ++i) text += "\n  " + problems[i];
  if (problems.size() > 10) text += "\n  ... " + std::to_string(problems.size() - 10) + " more";
  EXPECT_TRUE(problems.empty()) << what << ":" << text;
}

struct CheckerOptions {
  std::vector<std::string> server_args;
  int restarts = 0;  // SIGKILL + start again, evenly spread over the run
  bool refused_swaps = true;  // CheckLinearizable's
};

void RunChecker(const CheckerOptions& options) {
  TempDir dir;
  const std::string socket = dir.File("api.sock");
  std::vector<std::string> args = {
      // Slow watchers overflow soon (S16); the history keeps the whole run,
      // so every re-watch and the final read-back find their revision (S14).
      "--watch-queue-size=16", "--history-max-events=200000", "--history-max-bytes=512Mi"};
  args.insert(args.end(), options.server_args.begin(), options.server_args.end());
  RunningServer server = StartServer(socket, args);
  ASSERT_TRUE(server) << "server did not start";
  const States initial = CreateGpus(socket);
  ASSERT_EQ(initial.size(), kKeys.size());
  std::uint64_t start = 0;
  for (const auto& [key, o] : initial) start = std::max(start, o.rv);

  History history;
  WorkloadOptions wo;
  wo.socket = socket;
  wo.keys = kKeys;
  wo.selector = kSelector;
  wo.selected = kSelected;
  Workload workload(wo, &history);
  const auto run = RunTime();
  workload.Start();
  for (int i = 0; i < options.restarts; ++i) {
    std::this_thread::sleep_for(run / (options.restarts + 1));
    server.process->Signal(SIGKILL);
    server.process->Wait(std::chrono::seconds(5));
    server = StartServer(socket, args);
    ASSERT_TRUE(server) << "server did not start again after SIGKILL " << i + 1;
  }
  std::this_thread::sleep_for(run / (options.restarts + 1));
  workload.Stop();

  States final_state;
  std::vector<WatchEvent> reference;
  ASSERT_TRUE(ReadBack(socket, start, &final_state, &reference));
  const auto t0 = std::chrono::steady_clock::now();
  Report("the server's history", CheckReference(reference, initial));
  Report("lost writes", CheckNoLostWrites(history, reference, initial, final_state));
  Report("linearizability", CheckLinearizable(history, initial, options.refused_swaps));
  Report("reads at a revision", CheckReadsAt(history, reference, initial));
  Report("watchers", CheckWatchers(history, reference, initial, {{"", kKeys}, {kSelector, kSelected}}));
  const double check_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::size_t ops = 0, watch_events = 0, segments = 0, evictions = 0;
  for (const auto& [key, list] : history.ops) ops += list.size();
  for (const auto& w : history.watchers) {
    for (const auto& s : w.segments) {
      ++segments;
      watch_events += s.events.size();
      if (s.code == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED)) ++evictions;
    }
  }
  int unknown = 0;
  for (const auto& [key, n] : history.unknown_writes) unknown += n;
  std::cout << "[figures] revisions " << reference.size() << ", acknowledged writes "
            << history.acked_writes.size() << ", unknown " << unknown << ", operations " << ops
            << ", lists " << history.lists.size() << ", watch events " << watch_events << " in "
            << segments << " watches, evictions " << evictions << ", restarts " << options.restarts
            << ", check " << check_s << " s\n";
  EXPECT_GT(history.acked_writes.size(), 100u) << "the workload hardly ran";
  EXPECT_GE(evictions, 1u) << "no slow watcher was ended as too slow (S16 not exercised)";
  EXPECT_GT(segments, history.watchers.size()) << "nobody re-watched (S12 not exercised)";
}

// S1, S5, S8, S9, S10, S12, S16 on the memory backend: compare-and-swap
// writers lose no acknowledged write, reads are linearizable, lists are the
// state at their revision, and watchers see every revision once, in order,
// across their own re-watches and evictions as too slow.
TEST(Consistency, CasCountersLinearizableWatchesGaplessS1S5S8S9S10S12S16) {
  RunChecker({});
}

// S2, S24, S25 on the sqlite backend, the same workload across SIGKILLs of
// the server and starts on the same database: every acknowledged write
// survives, revisions only grow, writes whose call died with the server
// applied at most once, and watchers resume from their last revision with
// no gap and no duplicate (the history survives too).
//
// Refused swaps are left out of the linearizability check here: with the
// sqlite backend a write is refused (ABORTED) against a write that is still
// waiting for its group commit, while reads go on serving the older value
// for milliseconds, so "refused" is not yet an observation of a state any
// reader can see. See README.md (known findings).
TEST(Consistency, AcknowledgedWritesSurviveSigkillRestartsS2S24S25) {
  TempDir dir;
  CheckerOptions options;
  options.server_args = {"--storage-type=sqlite", "--storage-endpoint=sqlite://" + dir.File("state.db")};
  options.restarts = 2;
  options.refused_swaps = false;
  RunChecker(options);
}

}  // namespace
}  // namespace deviceapi::consistency
