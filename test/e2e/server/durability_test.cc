// Durable state with the real server: SIGKILL at random instants during a
// concurrent write load, then restart on the same database file (S24, S25).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "deviceapi/client.h"
#include "deviceapi/informer.h"
#include "eventually.h"
#include "sqlite_rows.h"
#include "test_support.h"

namespace deviceapi::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kGpus = 8;
constexpr int kWriters = 4;  // each owns kGpus / kWriters GPUs
// The crash test's history: short, so that compaction runs (of half of it,
// the server's rule) between the kills.
constexpr int kHistory = 1000;
constexpr int kKills = 50;

std::string GpuName(int i) { return "gpu-" + std::to_string(i); }

// One status write carries its counter in two conditions: a stored state
// whose two conditions disagree was half-applied.
v1::Gpu StatusWrite(int gpu, std::uint64_t n) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(GpuName(gpu));
  for (const char* type : {"Ready", "example.com/Counter"}) {
    auto* c = g.mutable_status()->add_conditions();
    c->set_type(type);
    c->set_status("True");
    c->set_reason("Written");
    c->set_message("n=" + std::to_string(n));
  }
  return g;
}

// The counter a stored GPU carries; -1 when its conditions disagree.
std::int64_t CounterOf(const v1::Gpu& g) {
  if (g.status().conditions_size() == 0) return 0;  // never written
  std::set<std::string> messages;
  for (const auto& c : g.status().conditions()) messages.insert(c.message());
  if (messages.size() != 1 || g.status().conditions_size() != 2) return -1;
  return std::stoll(messages.begin()->substr(2));
}

std::uint64_t Rv(const v1::Gpu& g) { return std::stoull(g.metadata().resource_version()); }

struct Model {
  std::mutex mu;
  std::uint64_t acked[kGpus] = {};      // highest counter acknowledged
  std::uint64_t attempted[kGpus] = {};  // highest counter sent
  std::set<std::uint64_t> acked_revisions;
  std::uint64_t highest_acked_revision = 0;
};

class Watch {
 public:
  // Watches from `from` until the stream ends; every event must come after
  // the one before it (exactly once, in order).
  Watch(std::shared_ptr<grpc::Channel> channel, std::uint64_t from, std::set<std::uint64_t>* seen)
      : last_(from) {
    thread_ = std::thread([this, channel, seen] {
      auto stub = v1::GpuService::NewStub(channel);
      v1::WatchGpusRequest req;
      req.mutable_opts()->set_resource_version(std::to_string(last_.load()));
      auto reader = stub->WatchGpus(&ctx_, req);
      v1::WatchGpusResponse ev;
      while (reader->Read(&ev)) {
        if (ev.type() == "BOOKMARK") continue;
        const std::uint64_t rv = Rv(ev.object());
        if (rv <= last_.load()) ++out_of_order_;
        if (!seen->insert(rv).second) ++duplicates_;
        last_.store(std::max(last_.load(), rv));
      }
      status_ = reader->Finish();
    });
  }
  ~Watch() {
    Cancel();
    Join();
  }
  void Cancel() { ctx_.TryCancel(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t last() const { return last_.load(); }
  int out_of_order() const { return out_of_order_; }
  int duplicates() const { return duplicates_; }
  const grpc::Status& status() const { return status_; }

 private:
  grpc::ClientContext ctx_;
  std::atomic<std::uint64_t> last_;
  int out_of_order_ = 0, duplicates_ = 0;
  grpc::Status status_;
  std::thread thread_;
};

class Durability : public ::testing::Test {
 protected:
  RunningServer Start(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"--storage-type=sqlite", "--storage-endpoint=sqlite://" + dir_.File("state.db"),
                                  "--metrics-bind-address=0", "--health-probe-bind-address=0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartServer(dir_.File("api.sock"), args);
  }
  // Rows of the file's `events` table, read as another process would.
  int StoredEvents() { return deviceapi::testing::SqliteRetainedEvents(dir_.File("state.db")); }
  int EventSlots() { return deviceapi::testing::SqliteRows(dir_.File("state.db"), "events"); }
  TempDir dir_;
};

// S24, S25: every acknowledged write survives SIGKILL, nothing is
// half-applied, revisions only grow, and a watcher resuming from its last
// revision after each restart sees every event exactly once, without relisting.
// S27: the history is short, so that kills also land in commits that compact
// (runs of 500 events) and the file ends with fewer events than were written.
TEST_F(Durability, SigkillDuringConcurrentWritesLosesNothingS24S25) {
  const std::vector<std::string> short_history{"--history-max-events=" + std::to_string(kHistory)};
  Model model;
  std::set<std::uint64_t> seen;
  std::uint64_t watch_from = 0, last_list_revision = 0;
  std::mt19937 rng(12345);
  int killed_with_writes_in_flight = 0;
  {
    auto server = Start(short_history);
    ASSERT_TRUE(server) << server.process->Stderr();
    auto channel = UnixChannel(server.socket);
    for (int i = 0; i < kGpus; ++i) ASSERT_TRUE(CreateGpu(channel, GpuName(i), i).ok());
    v1::ListGpusResponse list;
    ASSERT_TRUE(ListGpus(channel, &list).ok());
    watch_from = last_list_revision = std::stoull(list.gpu_list().metadata().resource_version());
    server.process->Signal(SIGKILL);
    server.process->Wait(5s);
  }
  for (int round = 0; round <= kKills; ++round) {
    auto server = Start(short_history);
    ASSERT_TRUE(server) << "round " << round << ": " << server.process->Stderr();
    auto channel = UnixChannel(server.socket);

    // Before anything writes: the state is what was acknowledged (or a
    // write that committed just before its answer was lost), never less,
    // never half of one write; revisions never went back.
    v1::ListGpusResponse list;
    ASSERT_TRUE(ListGpus(channel, &list).ok());
    const std::uint64_t list_rv = std::stoull(list.gpu_list().metadata().resource_version());
    EXPECT_GE(list_rv, last_list_revision) << "round " << round;
    EXPECT_GE(list_rv, model.highest_acked_revision) << "round " << round;
    last_list_revision = list_rv;
    // The newest write the list shows: a restarted server resumes above the
    // file's revision (S2, S24), so the list's own revision may carry no event.
    std::uint64_t newest_write = 0;
    for (const auto& g : list.gpu_list().items()) {
      newest_write = std::max<std::uint64_t>(newest_write, std::stoull(g.metadata().resource_version()));
    }
    ASSERT_EQ(list.gpu_list().items_size(), kGpus);
    for (const auto& g : list.gpu_list().items()) {
      const int i = std::stoi(g.metadata().name().substr(4));
      const std::int64_t n = CounterOf(g);
      ASSERT_GE(n, 0) << "round " << round << ": " << g.metadata().name() << " half-applied";
      EXPECT_GE(static_cast<std::uint64_t>(n), model.acked[i]) << "round " << round << ": lost an acknowledged write";
      EXPECT_LE(static_cast<std::uint64_t>(n), model.attempted[i]) << "round " << round;
      model.acked[i] = static_cast<std::uint64_t>(n);  // what is stored is the truth from here on
    }

    Watch watch(channel, watch_from, &seen);
    if (round == kKills) {
      // The last run is not killed: the watcher must catch up completely.
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (watch.last() < newest_write && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
      watch.Cancel();
      watch.Join();
      EXPECT_EQ(watch.last(), newest_write);
      EXPECT_EQ(watch.out_of_order(), 0);
      EXPECT_EQ(watch.duplicates(), 0);
      break;
    }

    std::atomic<bool> stop{false};
    std::atomic<int> in_flight{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        auto stub = v1::GpuService::NewStub(channel);
        for (int k = 0; !stop.load(); ++k) {
          const int gpu = w + kWriters * (k % (kGpus / kWriters));
          std::uint64_t n;
          {
            std::lock_guard<std::mutex> l(model.mu);
            n = ++model.attempted[gpu];
          }
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + 2s);
          v1::UpdateGpuStatusRequest req;
          *req.mutable_gpu() = StatusWrite(gpu, n);
          v1::Gpu out;
          in_flight.fetch_add(1);
          grpc::Status s = stub->UpdateGpuStatus(&ctx, req, &out);
          in_flight.fetch_sub(1);
          if (!s.ok()) break;  // the server is gone
          std::lock_guard<std::mutex> l(model.mu);
          model.acked[gpu] = std::max(model.acked[gpu], n);
          model.acked_revisions.insert(Rv(out));
          model.highest_acked_revision = std::max(model.highest_acked_revision, Rv(out));
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 120)(rng)));
    if (in_flight.load() > 0) ++killed_with_writes_in_flight;
    server.process->Signal(SIGKILL);
    server.process->Wait(5s);
    stop.store(true);
    for (auto& t : writers) t.join();
    watch.Join();
    EXPECT_EQ(watch.out_of_order(), 0) << "round " << round;
    EXPECT_EQ(watch.duplicates(), 0) << "round " << round;
    watch_from = watch.last();  // resume, never relist
  }
  // Every acknowledged write reached the watcher, exactly once.
  std::size_t missing = 0;
  for (std::uint64_t rv : model.acked_revisions) missing += seen.count(rv) == 0;
  EXPECT_EQ(missing, 0u) << "of " << model.acked_revisions.size() << " acknowledged writes";
  const int stored = StoredEvents();
  std::printf("S24: %d kills (%d with writes in flight), %zu acknowledged writes, %zu events watched, %d in the file\n",
              kKills, killed_with_writes_in_flight, model.acked_revisions.size(), seen.size(), stored);
  EXPECT_GT(model.acked_revisions.size(), std::size_t{kKills});
  // Compaction ran between the kills: the file retains at most the history
  // and one run (here tens of thousands of events were written; under a
  // sanitizer a few thousand), in at most the history, a run and a batch of
  // slots.
  EXPECT_GE(stored, 0) << "the file is readable after the last run";
  EXPECT_LE(stored, kHistory + kHistory / 2 + kGpus);
  EXPECT_LE(EventSlots(), kHistory + kHistory / 2 + 256);
}

// A lease in namespace default owning NVMLReady, renewed now by the server.
v1::Lease NvmlLease(const std::string& holder, int seconds) {
  v1::Lease lease;
  lease.mutable_metadata()->set_name("nvml-provider");
  lease.mutable_spec()->set_holder_identity(holder);
  lease.mutable_spec()->set_lease_duration_seconds(seconds);
  lease.mutable_spec()->add_condition_types("NVMLReady");
  return lease;
}

std::string NvmlReady(const std::shared_ptr<grpc::Channel>& channel, std::string* reason = nullptr) {
  auto stub = v1::GpuService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::GetGpuRequest req;
  req.set_name(GpuName(0));
  v1::GetGpuResponse got;
  if (!stub->GetGpu(&ctx, req, &got).ok()) return "no answer";
  for (const auto& c : got.gpu().status().conditions()) {
    if (c.type() != "NVMLReady") continue;
    if (reason != nullptr) *reason = c.reason();
    return c.status();
  }
  return "missing";
}

// S28 across a restart: leases are durable with the GPUs. A provider whose
// server was SIGKILLed and that never comes back still has its conditions
// turned Unknown after the restart (a full lease duration after the start),
// and while the restored lease is live it still owns its condition types (S30).
TEST_F(Durability, LeasesSurviveSigkillAndStillExpireS28S30) {
  std::string lease_rv;
  {
    auto server = Start();
    ASSERT_TRUE(server) << server.process->Stderr();
    auto channel = UnixChannel(server.socket);
    auto stub = v1::GpuService::NewStub(channel);
    v1::Gpu gpu = MakeGpu(GpuName(0));
    gpu.mutable_status()->clear_conditions();
    auto* ready = gpu.mutable_status()->add_conditions();
    ready->set_type("NVMLReady");
    ready->set_status("True");
    ready->set_reason("Healthy");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::CreateGpuRequest create;
    *create.mutable_gpu() = gpu;
    v1::Gpu created;
    ASSERT_TRUE(stub->CreateGpu(&ctx, create, &created).ok());
    auto leases = v1::LeaseService::NewStub(channel);
    grpc::ClientContext lctx;
    lctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::CreateLeaseRequest lreq;
    *lreq.mutable_lease() = NvmlLease("node-1", 8);
    v1::Lease lease;
    ASSERT_TRUE(leases->CreateLease(&lctx, lreq, &lease).ok());
    lease_rv = lease.metadata().resource_version();
    server.process->Signal(SIGKILL);
    server.process->Wait(5s);
  }
  auto server = Start();
  ASSERT_TRUE(server) << server.process->Stderr();
  auto channel = UnixChannel(server.socket);
  auto leases = v1::LeaseService::NewStub(channel);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::GetLeaseRequest req;
    req.set_name("nvml-provider");
    v1::GetLeaseResponse got;
    ASSERT_TRUE(leases->GetLease(&ctx, req, &got).ok()) << "the lease did not survive the restart";
    EXPECT_EQ(got.lease().spec().holder_identity(), "node-1");
    EXPECT_EQ(got.lease().metadata().resource_version(), lease_rv);
  }
  const auto restarted = std::chrono::steady_clock::now();
  {
    // S30: another holder cannot claim NVMLReady while the restored lease is live.
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::CreateLeaseRequest req;
    *req.mutable_lease() = NvmlLease("node-2", 8);
    req.mutable_lease()->mutable_metadata()->set_name("other-provider");
    v1::Lease out;
    grpc::Status s = leases->CreateLease(&ctx, req, &out);
    if (std::chrono::steady_clock::now() - restarted < 7s) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
      EXPECT_NE(s.error_message().find("owned by live lease default/nvml-provider"), std::string::npos)
          << s.error_message();
    }
  }
  // S28: nobody renews it; the condition turns Unknown after its duration.
  std::string status, reason;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((status = NvmlReady(channel, &reason)) == "True" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, "Unknown");
  EXPECT_EQ(reason, "ProviderLeaseExpired");
  // The start came a little before `restarted`; without the start rule the
  // lease, renewed just before the kill, would have expired about as late.
  EXPECT_GE(std::chrono::steady_clock::now() - restarted, 5s) << "expired long before a full duration after the start";
}

// S15, S25: an SDK informer connected across a restart of the durable
// server resumes its watch from its revision (no relist) and reaches the
// revision the restarted server lists, with no write since. The restart's
// revision carries no event: only the bookmark that ends a resumed watch's
// backlog brings the informer there, rather than the idle bookmark a minute
// later. A consumer that compares the two before trusting its cache (the
// SDK's documented freshness check) trusts it again within the reconnect.
TEST_F(Durability, InformerAcrossARestartReachesTheNewRevisionWithoutRelistS15S25) {
  auto server = Start({"--bookmark-interval=60s"});
  ASSERT_TRUE(server) << server.process->Stderr();
  ClientOptions co;
  co.target = "unix://" + server.socket;
  co.default_timeout = 2s;
  Client client(co);
  ASSERT_TRUE(client.Create(MakeGpu(GpuName(0))).ok());
  InformerOptions io;
  io.backoff.initial = 10ms;
  io.backoff.max = 200ms;
  Informer informer(client, io);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(5s));

  server.process->Signal(SIGKILL);
  server.process->Wait(5s);
  server = Start({"--bookmark-interval=60s"});
  ASSERT_TRUE(server) << server.process->Stderr();
  ListOptions probe;
  probe.label_selector = "no-such-label";
  StatusOr<GpuList> listed = client.List(probe);
  Eventually([&] { return listed.ok() || (listed = client.List(probe)).ok(); }, 5s, 20ms);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  const std::string revision = listed->metadata().resource_version();
  ASSERT_EQ(server.started.value("revision", std::uint64_t{0}), std::stoull(revision)) << server.started.dump();

  Eventually([&] { return informer.Stats().last_resource_version == revision; }, 10s, 10ms);
  const InformerStats stats = informer.Stats();
  EXPECT_EQ(stats.last_resource_version, revision) << "the informer did not reach the restarted server's revision";
  EXPECT_EQ(stats.lists, 1u) << "the revision is retained: resume, do not relist";
  informer.Stop();
}

}  // namespace
}  // namespace deviceapi::testing
