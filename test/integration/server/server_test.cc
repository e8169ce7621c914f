// The Server in-process: start-up to ready, health on the API socket, a
// graceful shutdown with many open watches (S21, S22), lease watches in the
// metrics (S16), and the admin endpoints while a disk hangs (S32).
#include "server/server.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "base/logging.h"
#include "eventually.h"
#include "failing_sync_vfs.h"
#include "metrics/text_parser.h"
#include "store/store.h"
#include "test_support.h"

namespace deviceapi::server {
namespace {

using testing::CheckHealth;
using testing::CreateGpu;
using testing::TempDir;
using testing::UnixChannel;
using HC = grpc::health::v1::HealthCheckResponse;

Config TestConfig(const std::string& socket) {
  Config c;
  c.api_socket.path = socket;
  c.health_probe = base::TcpAddress{"127.0.0.1", 0};
  c.metrics = std::nullopt;
  c.hostname = "test-node";
  c.shutdown_grace_period = std::chrono::seconds(5);
  c.storage_type = StorageType::kMemory;  // every test starts empty
  return c;
}

class ServerInProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    base::LoggingOptions logging;
    logging.sink = [](std::string_view) {};  // quiet
    base::InitLogging(logging);
  }
  TempDir dir_;
};

TEST_F(ServerInProcess, StartToReadyIsFast) {
  auto t0 = std::chrono::steady_clock::now();
  Server server(TestConfig(dir_.File("api.sock")));
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  auto probe = testing::TcpChannel(server.health_probe_port());
  ASSERT_TRUE(testing::WaitForHealth(probe, HC::SERVING, std::chrono::seconds(5)));
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("in-process Start() to probe SERVING: %.1f ms\n", ms);
  EXPECT_LT(ms, 1000);
}

TEST_F(ServerInProcess, StartFailureReleasesEverything) {
  Server first(TestConfig(dir_.File("api.sock")));
  std::string error;
  ASSERT_TRUE(first.Start(&error)) << error;
  // Same probe port: the API socket binds, then the probe fails; the second
  // server's socket must not stay behind.
  Config second_config = TestConfig(dir_.File("second.sock"));
  second_config.health_probe->port = static_cast<std::uint16_t>(first.health_probe_port());
  Server second(second_config);
  EXPECT_FALSE(second.Start(&error));
  EXPECT_NE(error.find("--health-probe-bind-address"), std::string::npos) << error;
  struct stat st {};
  EXPECT_NE(lstat(dir_.File("second.sock").c_str(), &st), 0);
  EXPECT_EQ(CheckHealth(UnixChannel(dir_.File("api.sock"))), HC::SERVING);
}

TEST_F(ServerInProcess, ShutdownEndsManyWatchesQuicklyS22) {
  constexpr int kWatches = 200;
  Server server(TestConfig(dir_.File("api.sock")));
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  // A few connections, many streams each (streams per connection default 100).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 4; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);  // distinct connections
    channels.push_back(grpc::CreateCustomChannel("unix:" + dir_.File("api.sock"),
                                                 grpc::InsecureChannelCredentials(), args));
  }
  ASSERT_TRUE(CreateGpu(channels[0], "gpu-0").ok());

  struct Watch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<testing::v1::WatchGpusResponse>> reader;
    std::future<grpc::Status> done;
  };
  std::atomic<int> first_events{0};
  std::vector<std::unique_ptr<Watch>> watches;
  std::vector<std::unique_ptr<testing::v1::GpuService::Stub>> stubs;
  for (auto& ch : channels) stubs.push_back(testing::v1::GpuService::NewStub(ch));
  for (int i = 0; i < kWatches; ++i) {
    auto w = std::make_unique<Watch>();
    w->reader = stubs[i % stubs.size()]->WatchGpus(&w->ctx, testing::v1::WatchGpusRequest());
    auto* raw = w.get();
    w->done = std::async(std::launch::async, [raw, &first_events] {
      testing::v1::WatchGpusResponse event;
      bool first = true;
      while (raw->reader->Read(&event)) {
        if (first) first_events.fetch_add(1);
        first = false;
      }
      return raw->reader->Finish();
    });
    watches.push_back(std::move(w));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (first_events.load() < kWatches && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(first_events.load(), kWatches);

  auto t0 = std::chrono::steady_clock::now();
  server.RequestShutdown();
  server.Shutdown();
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("Shutdown() with %d open watches: %.1f ms\n", kWatches, ms);
  EXPECT_LT(ms, 3000);
  int unavailable = 0;
  for (auto& w : watches) {
    ASSERT_EQ(w->done.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    if (w->done.get().error_code() == grpc::StatusCode::UNAVAILABLE) ++unavailable;
  }
  EXPECT_EQ(unavailable, kWatches);
  struct stat st {};
  EXPECT_NE(lstat(dir_.File("api.sock").c_str(), &st), 0);
}

}  // namespace
}  // namespace deviceapi::server

namespace deviceapi::server {
namespace {

TEST_F(ServerInProcess, InFlightUnaryCallFinishesDuringShutdownS22) {
  Server server(TestConfig(dir_.File("api.sock")));
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  // Hold a CreateGpu inside the store's write until shutdown has begun.
  std::promise<void> entered, release;
  auto release_future = release.get_future().share();
  std::atomic<bool> once{false};
  server.StoreForTesting()->SetWriteHookForTesting([&] {
    if (once.exchange(true)) return;
    entered.set_value();
    release_future.wait_for(std::chrono::seconds(5));
  });
  auto call = std::async(std::launch::async, [&] { return CreateGpu(UnixChannel(dir_.File("api.sock")), "gpu-0"); });
  ASSERT_EQ(entered.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);

  auto probe = testing::TcpChannel(server.health_probe_port());
  auto shutdown = std::async(std::launch::async, [&] {
    server.RequestShutdown();
    server.Shutdown();
  });
  // Shutdown has started (health NOT_SERVING) while the call is still in flight.
  EXPECT_TRUE(testing::WaitForHealth(probe, HC::NOT_SERVING, std::chrono::seconds(3)));
  EXPECT_EQ(call.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  release.set_value();

  grpc::Status status = call.get();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(shutdown.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

// The watch families cover the lease store too: a lease watch is an active
// watch like a GPU's, so an evicted one is counted as S16 asks
// (server_metrics_test.cc checks the sums of every family).
TEST_F(ServerInProcess, LeaseWatchesAreCountedInTheWatchMetricsS16) {
  Config config = TestConfig(dir_.File("api.sock"));
  config.metrics = base::TcpAddress{"127.0.0.1", 0};
  Server server(config);
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  ASSERT_TRUE(testing::WaitForHealth(testing::TcpChannel(server.health_probe_port()), HC::SERVING,
                                     std::chrono::seconds(5)));
  auto scrape = [&](const std::string& family) -> std::optional<double> {
    std::string body;
    if (testing::HttpGet(server.metrics_port(), "/metrics", &body) != 200) return std::nullopt;
    auto parsed = metrics::ParseText(body);
    if (!parsed.ok) return std::nullopt;
    return parsed.exposition.Value(family);
  };
  EXPECT_EQ(scrape("device_apiserver_watchers"), 0.0);

  auto leases = testing::v1::LeaseService::NewStub(UnixChannel(dir_.File("api.sock")));
  grpc::ClientContext ctx;
  auto reader = leases->WatchLeases(&ctx, testing::v1::WatchLeasesRequest());
  EXPECT_TRUE(testing::Eventually([&] { return scrape("device_apiserver_watchers") == 1.0; },
                                  std::chrono::seconds(5)))
      << "device_apiserver_watchers: " << scrape("device_apiserver_watchers").value_or(-1);
  ctx.TryCancel();
  testing::v1::WatchLeasesResponse event;
  while (reader->Read(&event)) {
  }
  reader->Finish();
  EXPECT_TRUE(testing::Eventually([&] { return scrape("device_apiserver_watchers") == 0.0; },
                                  std::chrono::seconds(5)));
  server.RequestShutdown();
  server.Shutdown();
}

// S32: /metrics, /readyz and /healthz answer while a write is stuck in the
// disk's fsync (--storage-sync=full on a failing disk): the admin thread
// reads the storage's fault and counters without waiting for the commit.
TEST_F(ServerInProcess, AdminEndpointsAnswerWhileACommitHangsInSyncS32) {
  store::testing::FailingSyncVfs disk;
  Config config = TestConfig(dir_.File("api.sock"));
  config.metrics = base::TcpAddress{"127.0.0.1", 0};
  config.storage_type = StorageType::kSqlite;
  config.storage_path = dir_.File("state.db");
  config.storage_full_sync = true;
  Server server(config);
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  ASSERT_TRUE(testing::WaitForHealth(testing::TcpChannel(server.health_probe_port()), HC::SERVING,
                                     std::chrono::seconds(5)));
  disk.StallLogSyncs(std::chrono::seconds(3));
  auto write = std::async(std::launch::async, [&] { return CreateGpu(UnixChannel(dir_.File("api.sock")), "gpu-0"); });
  ASSERT_TRUE(testing::Eventually([&] { return disk.stalled_syncs() > 0; }, std::chrono::seconds(5)));
  disk.StallLogSyncs(std::chrono::milliseconds(0));
  for (const char* path : {"/metrics", "/readyz", "/healthz"}) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(testing::HttpGet(server.metrics_port(), path), 200) << path;
    // A hang check: an endpoint that waited for the commit took the stall.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << path;
  }
  EXPECT_TRUE(write.get().ok());
  server.RequestShutdown();
  server.Shutdown();
}

}  // namespace
}  // namespace deviceapi::server
