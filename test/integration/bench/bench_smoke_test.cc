// device-api-bench smoke test: the real bench binary against a real server
// binary started here, each scenario for about a second. Correctness only:
// zero errors and, for the watch scenarios, every acknowledged write seen by
// every watcher exactly once in revision order (S12; S16: no watcher is
// evicted at these rates). Also the tool's own arithmetic and its refusal of
// bad flags.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.h"
#include "bench/latency.h"
#include "bench/options.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

const std::string kBin = DEVICEAPI_BINARY_DIR;
const std::string kServer = kBin + "/cmd/device-api-server/device-api-server";
const std::string kBench = kBin + "/cmd/device-api-bench/device-api-bench";
const std::string kProvider = kBin + "/cmd/nvml-provider/nvml-provider";
const std::string kFakeRoot = kBin + "/fake-driver-root";

using Child = deviceapi::testing::ChildProcess;

struct BenchRun {
  int exit_code = -1;
  std::vector<json> rows;
  std::string raw;
  const json* Find(const std::string& scenario, const std::string& op = "") const {
    for (auto& r : rows)
      if (r["scenario"] == scenario && r["op"] == (op.empty() ? scenario : op)) return &r;
    return nullptr;
  }
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class BenchSmoke : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("bench-smoke-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    sock_ = (dir_ / "api.sock").string();
  }
  void TearDown() override {
    provider_.reset();
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void StartServer() {
    server_ = std::make_unique<Child>(
        std::vector<std::string>{kServer, "--bind-address", "unix://" + sock_,
                                 "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
                                 "--shutdown-grace-period", "2s", "--storage-type", "memory"},
        std::map<std::string, std::string>{}, (dir_ / "server.log").string());
    for (int i = 0; i < 1000 && !fs::exists(sock_); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(fs::exists(sock_)) << Slurp((dir_ / "server.log").string());
  }

  // Runs the bench with `args` (plus --target, --json) and parses its lines.
  BenchRun Bench(std::vector<std::string> args, bool with_target = true) {
    std::string cmd = kBench + " --json --no-progress";
    if (with_target) {
      cmd += " --target unix://" + sock_;
      if (server_) cmd += " --server-pid " + std::to_string(server_->pid());
    }
    for (auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>" + (dir_ / "bench.err").string();
    BenchRun run;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return run;
    char buf[8192];
    while (fgets(buf, sizeof buf, p)) run.raw += buf;
    int st = pclose(p);
    run.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    std::istringstream lines(run.raw);
    std::string line;
    while (std::getline(lines, line))
      if (!line.empty() && line[0] == '{') run.rows.push_back(json::parse(line));
    return run;
  }

  std::string Context(const BenchRun& run) {
    return "output:\n" + run.raw + "\nstderr:\n" + Slurp((dir_ / "bench.err").string()) +
           "\nserver log (tail):\n" + Slurp((dir_ / "server.log").string()).substr(0, 4000);
  }

  // Available, measured something, no errors.
  void ExpectClean(const BenchRun& run, const std::string& scenario, const std::string& op = "") {
    const json* r = run.Find(scenario, op);
    ASSERT_NE(r, nullptr) << scenario << "/" << op << " missing; " << Context(run);
    EXPECT_TRUE((*r)["available"].get<bool>()) << r->dump();
    EXPECT_GT((*r)["ops"].get<std::uint64_t>(), 0u) << r->dump();
    EXPECT_EQ((*r)["errors"].get<std::uint64_t>(), 0u) << r->dump();
    // Delivery is measured from the writer's acknowledgement, and a watcher
    // often has the event first (clamped to 0): only max must be positive.
    EXPECT_GE((*r)["p50_ms"].get<double>(), 0.0) << r->dump();
    EXPECT_GT((*r)["max_ms"].get<double>(), 0.0) << r->dump();
    EXPECT_LE((*r)["p50_ms"].get<double>(), (*r)["p99_ms"].get<double>()) << r->dump();
  }

  // S12: every acknowledged write reached every watcher once, in order.
  void ExpectDelivered(const BenchRun& run, const std::string& scenario, const std::string& op,
                       int watchers) {
    const json* d = run.Find(scenario, op);
    ASSERT_NE(d, nullptr) << Context(run);
    EXPECT_EQ((*d)["lost"].get<std::uint64_t>(), 0u) << d->dump();
    EXPECT_EQ((*d)["duplicated"].get<std::uint64_t>(), 0u) << d->dump();
    EXPECT_EQ((*d)["ended_early"].get<std::uint64_t>(), 0u) << d->dump();
    EXPECT_EQ((*d)["watchers"].get<int>(), watchers) << d->dump();
  }

  fs::path dir_;
  std::string sock_;
  std::unique_ptr<Child> server_, provider_;
};

TEST_F(BenchSmoke, UnaryScenariosRunCleanAndReportRatiosToNoop) {
  StartServer();
  BenchRun run = Bench({"--gpus", "16", "--conditions", "4", "--concurrency", "2", "--duration", "1",
                   "--warmup", "0.2", "noop", "get", "list", "create", "update-status", "patch-status"});
  EXPECT_EQ(run.exit_code, 0) << Context(run);
  for (auto s : {"noop", "get", "list", "create", "update-status", "patch-status"}) ExpectClean(run, s);
  // Ratios come from the noop run at the same concurrency in the same run.
  for (auto s : {"get", "list", "create", "update-status", "patch-status"}) {
    const json* r = run.Find(s);
    ASSERT_NE(r, nullptr);
    EXPECT_GT((*r)["p50_vs_noop"].get<double>(), 0.0) << r->dump();
    EXPECT_GT((*r)["throughput_vs_noop"].get<double>(), 0.0) << r->dump();
  }
  EXPECT_EQ((*run.Find("list"))["gpus"].get<int>(), 16);
}

// Interleaved: one loop whose workers take turns at the scenarios in short
// slices of time; every scenario gets its own row with its ratio to the
// noop of that loop.
TEST_F(BenchSmoke, InterleavedScenariosShareOneLoopAndReportRowsOfTheirOwn) {
  StartServer();
  // Every unary scenario but create, which adds GPUs that list would count.
  const std::vector<std::string> names = {"noop", "get", "list", "update-status", "patch-status"};
  std::vector<std::string> args = {"--gpus", "16", "--conditions", "4", "--concurrency", "2",
                                   "--duration", "1.5", "--warmup", "0.2", "--interleave"};
  args.insert(args.end(), names.begin(), names.end());
  BenchRun run = Bench(args);
  EXPECT_EQ(run.exit_code, 0) << Context(run);
  ASSERT_EQ(run.rows.size(), names.size()) << Context(run);
  for (std::size_t i = 0; i < names.size(); ++i) {
    ExpectClean(run, names[i]);
    const json& r = run.rows[i];
    EXPECT_EQ(r["scenario"], names[i]) << "rows come in the order given";
    EXPECT_TRUE(r.value("interleaved", false)) << r.dump();
    EXPECT_EQ(r["concurrency"].get<int>(), 2) << r.dump();
    // Its rate while it ran: concurrency over its mean latency.
    EXPECT_NEAR(r["ops_per_s"].get<double>(), 2 * 1e3 / r["mean_ms"].get<double>(),
                0.01 * r["ops_per_s"].get<double>())
        << r.dump();
    if (names[i] != "noop") {
      EXPECT_GT(r["p50_vs_noop"].get<double>(), 0.0) << r.dump();
      EXPECT_DOUBLE_EQ(r["p50_vs_noop"].get<double>(),
                       r["p50_ms"].get<double>() / (*run.Find("noop"))["p50_ms"].get<double>());
    }
  }
  // --requests counts the loop's measured calls, whichever scenario made them.
  BenchRun counted = Bench({"--gpus", "16", "--conditions", "4", "--concurrency", "2", "--requests", "3000",
                            "--warmup", "0.1", "--slice", "0.005", "--interleave", "noop", "get"});
  EXPECT_EQ(counted.exit_code, 0) << Context(counted);
  ASSERT_EQ(counted.rows.size(), 2u) << Context(counted);
  const auto total = counted.rows[0]["ops"].get<std::uint64_t>() + counted.rows[1]["ops"].get<std::uint64_t>();
  EXPECT_GE(total, 3000u);
  EXPECT_LE(total, 3002u);  // plus what each worker had in flight
  ExpectClean(counted, "noop");
  ExpectClean(counted, "get");

  BenchRun creates = Bench({"--gpus", "16", "--conditions", "4", "--concurrency", "2", "--duration", "0.5",
                            "--warmup", "0.1", "--interleave", "noop", "create"});
  EXPECT_EQ(creates.exit_code, 0) << Context(creates);
  ExpectClean(creates, "noop");
  ExpectClean(creates, "create");
}

// A list of scenarios repeated in slices: each slice's ratio is to the
// noop run just before it, not to the last noop of the invocation.
TEST_F(BenchSmoke, RatiosAreToTheNearestNoopBefore) {
  StartServer();
  BenchRun run = Bench({"--gpus", "16", "--conditions", "4", "--duration", "0.3", "--warmup", "0.1", "noop",
                        "get", "noop", "get", "noop", "get"});
  EXPECT_EQ(run.exit_code, 0) << Context(run);
  ASSERT_EQ(run.rows.size(), 6u) << Context(run);
  for (std::size_t i = 1; i < 6; i += 2) {
    ASSERT_EQ(run.rows[i]["scenario"], "get");
    EXPECT_DOUBLE_EQ(run.rows[i]["p50_vs_noop"].get<double>(),
                     run.rows[i]["p50_ms"].get<double>() / run.rows[i - 1]["p50_ms"].get<double>())
        << "slice " << i / 2;
  }
}

TEST_F(BenchSmoke, WatchFanoutDeliversEveryWriteToEveryWatcherOnce) {
  StartServer();
  BenchRun run = Bench({"--gpus", "16", "--conditions", "4", "--concurrency", "2", "--watchers", "8",
                   "--rate", "100", "--duration", "1", "--warmup", "0.2", "watch-fanout"});
  EXPECT_EQ(run.exit_code, 0) << Context(run);
  ExpectClean(run, "watch-fanout", "update-status");
  ExpectClean(run, "watch-fanout", "delivery");
  ExpectDelivered(run, "watch-fanout", "delivery", 8);
  const json* w = run.Find("watch-fanout", "update-status");
  const json* d = run.Find("watch-fanout", "delivery");
  ASSERT_TRUE(w && d);
  // Warm-up writes are delivered too, so at least writes x watchers.
  EXPECT_GE((*d)["ops"].get<std::uint64_t>(), 8 * (*w)["ops"].get<std::uint64_t>()) << d->dump();
  EXPECT_TRUE(d->contains("server_cpu_percent")) << d->dump();
}

TEST_F(BenchSmoke, MixedAndMemoryScenariosRunClean) {
  StartServer();
  BenchRun run = Bench({"--gpus", "16", "--conditions", "4", "--concurrency", "4", "--watchers", "4",
                   "--rate", "0", "--duration", "1", "--warmup", "0.2", "mixed"});
  EXPECT_EQ(run.exit_code, 0) << Context(run);
  ExpectClean(run, "mixed", "get");
  ExpectClean(run, "mixed", "update-status");
  ExpectClean(run, "mixed", "delivery");
  ExpectDelivered(run, "mixed", "delivery", 4);

  BenchRun mem = Bench({"--gpus", "16", "--conditions", "4", "--concurrency", "2", "--watchers", "4",
                   "--requests", "300", "memory"});
  EXPECT_EQ(mem.exit_code, 0) << Context(mem);
  ExpectClean(mem, "memory");
  ExpectDelivered(mem, "memory", "memory", 4);
  const json* m = mem.Find("memory");
  ASSERT_NE(m, nullptr);
  EXPECT_GE((*m)["ops"].get<std::uint64_t>(), 300u);
  EXPECT_GT((*m)["server_rss_mib"].get<double>(), 1.0) << m->dump();
}

TEST_F(BenchSmoke, StartupStartsReadyServersAndStopsThemCleanly) {
  BenchRun run = Bench({"--server-binary", kServer, "--startup-runs", "2", "startup"}, false);
  EXPECT_EQ(run.exit_code, 0) << Context(run);
  ExpectClean(run, "startup");
  const json* r = run.Find("startup");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ((*r)["ops"].get<int>(), 2);
  EXPECT_GT((*r)["idle_rss_mib"].get<double>(), 1.0) << r->dump();
}

TEST_F(BenchSmoke, HealthE2eSeesInjectedFaultsAsWatchEvents) {
  if (!fs::exists(kProvider) || !fs::exists(kFakeRoot))
    GTEST_SKIP() << "nvml-provider or the fake NVML is not built";
  StartServer();
  std::string ctl = (dir_ / "fake.sock").string();
  provider_ = std::make_unique<Child>(
      std::vector<std::string>{kProvider, "--server", "unix://" + sock_, "--driver-root", kFakeRoot,
                               "--admin-address", "127.0.0.1:0", "--log-level", "warn"},
      std::map<std::string, std::string>{{"FAKE_NVML_CONTROL", ctl}, {"FAKE_NVML_GPUS", "4"}},
      (dir_ / "provider.log").string());
  BenchRun run = Bench({"--duration", "1", "--fake-nvml-control", ctl, "health-e2e"});
  EXPECT_EQ(run.exit_code, 0) << Context(run) << Slurp((dir_ / "provider.log").string());
  ExpectClean(run, "health-e2e");
}

TEST_F(BenchSmoke, MissingInputsAreReportedNotFaked) {
  StartServer();
  BenchRun run = Bench({"--duration", "0.2", "health-e2e"}, true);
  // Without a provider on the fake NVML, health-e2e must say what it needs.
  const json* h = run.Find("health-e2e");
  ASSERT_NE(h, nullptr) << Context(run);
  EXPECT_FALSE((*h)["available"].get<bool>());
  EXPECT_NE((*h)["note"].get<std::string>().find("--fake-nvml-control"), std::string::npos);
}

TEST_F(BenchSmoke, UnreachableServerFailsFastWithErrors) {
  auto t0 = std::chrono::steady_clock::now();
  BenchRun run = Bench({"--duration", "0.3", "--warmup", "0", "noop", "get"});
  EXPECT_EQ(run.exit_code, 1) << Context(run);
  const json* noop = run.Find("noop");
  ASSERT_NE(noop, nullptr) << Context(run);
  EXPECT_GT((*noop)["errors"].get<std::uint64_t>(), 0u);
  EXPECT_EQ((*noop)["ops"].get<std::uint64_t>(), 0u);
  const json* get = run.Find("get");
  ASSERT_NE(get, nullptr);
  EXPECT_FALSE((*get)["available"].get<bool>());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
}

// compare mode with two of our servers (memory and sqlite): each started by
// the bench per round, every compare scenario measured on both, a ratio per
// round and their median for each figure.
TEST_F(BenchSmoke, CompareReportsRatiosForEveryScenario) {
  std::vector<std::string> args = {"compare", "--server", "mem=" + kServer, "--server", "db=" + kServer};
  for (std::string label : {"mem", "db"}) {
    for (std::string a : {"--metrics-bind-address=0", "--health-probe-bind-address=0",
                          "--shutdown-grace-period=2s"})
      args.push_back("--server-arg=" + label + "=" + a);
  }
  args.push_back("--server-arg=mem=--storage-type=memory");
  args.push_back("--server-arg=db=--storage-type=sqlite");
  args.push_back("--server-arg=db=--storage-endpoint=sqlite://{dir}/state.db");
  for (std::string a : {"--rounds", "2", "--gpus", "8", "--conditions", "2", "--watchers", "3",
                        "--rate", "50", "--burst-rate", "100", "--memory-conditions", "4",
                        "--requests", "200", "--duration", "0.3", "--warmup", "0.1"})
    args.push_back(a);
  BenchRun run = Bench(args, false);
  EXPECT_EQ(run.exit_code, 0) << Context(run);
  json report;
  try {
    report = json::parse(run.raw);
  } catch (const json::exception& e) {
    FAIL() << e.what() << "\n" << Context(run);
  }
  EXPECT_EQ(report["baseline"], "db");
  EXPECT_EQ(report["problems"].size(), 0u) << report["problems"].dump();
  std::set<std::string> scenarios;
  for (auto& m : report["metrics"]) {
    scenarios.insert(m["scenario"].get<std::string>());
    for (std::string label : {"mem", "db"}) {
      ASSERT_EQ(m["values"][label].size(), 2u) << m.dump();
    }
    if (m["metric"] == "events lost") {
      for (auto& v : m["values"]["db"]) EXPECT_EQ(v.get<double>(), 0.0) << m.dump();
      continue;
    }
    // A few ms of CPU in 0.3 s can read as 0 ticks: no ratio then.
    if (m["metric"] == "server CPU %") continue;
    // Every other figure has a ratio per round, mem's value over db's, and
    // their median. Either value may be 0 in so short a round (a delivery p99
    // of 0 ms: nearly every event reached its watchers before its writer had
    // the answer, and such a delivery counts as 0): a round whose baseline
    // measured 0 has no ratio, one where mem measured 0 has ratio 0.
    const auto& r = m["ratio"]["mem"];
    ASSERT_EQ(r["per_round"].size(), 2u) << m.dump();
    std::vector<double> ratios;
    for (std::size_t i = 0; i < 2; ++i) {
      const double db = m["values"]["db"][i].get<double>();
      const double mem = m["values"]["mem"][i].get<double>();
      if (db == 0.0) {
        EXPECT_TRUE(r["per_round"][i].is_null()) << m.dump();
        continue;
      }
      ASSERT_TRUE(r["per_round"][i].is_number()) << m.dump();
      EXPECT_DOUBLE_EQ(r["per_round"][i].get<double>(), mem / db) << m.dump();
      ratios.push_back(mem / db);
    }
    if (ratios.empty()) {
      EXPECT_TRUE(r["median"].is_null()) << m.dump();
      continue;
    }
    std::sort(ratios.begin(), ratios.end());
    const double median = ratios.size() == 1 ? ratios[0] : (ratios[0] + ratios[1]) / 2;
    EXPECT_DOUBLE_EQ(r["median"].get<double>(), median) << m.dump();
    EXPECT_DOUBLE_EQ(r["min"].get<double>(), ratios.front()) << m.dump();
    EXPECT_DOUBLE_EQ(r["max"].get<double>(), ratios.back()) << m.dump();
  }
  for (auto& name : deviceapi::bench::CompareScenarios())
    EXPECT_TRUE(scenarios.count(name)) << name << " has no figures; " << report.dump();
  EXPECT_EQ(report["machine"]["load_per_round"].size(), 2u);
}

TEST_F(BenchSmoke, BadFlagsAreRefused) {
  EXPECT_EQ(Bench({"no-such-scenario"}, false).exit_code, 2);
  EXPECT_EQ(Bench({"--concurrency", "0", "noop"}, false).exit_code, 2);
  EXPECT_EQ(Bench({"--duration", "-1", "noop"}, false).exit_code, 2);
  EXPECT_EQ(Bench({}, false).exit_code, 2);  // a scenario is required
  // --interleave: unary scenarios only, each once.
  EXPECT_EQ(Bench({"--interleave", "noop", "watch-fanout"}, false).exit_code, 2);
  EXPECT_EQ(Bench({"--interleave", "noop", "get", "noop"}, false).exit_code, 2);
  EXPECT_EQ(Bench({"--interleave", "list", "create"}, false).exit_code, 2);
}

TEST(BenchLatency, NearestRankPercentiles) {
  deviceapi::bench::LatencyRecorder rec;
  for (int i = 100; i >= 1; --i) rec.Add(static_cast<std::int64_t>(i) * 1000000);  // 1..100 ms
  auto s = rec.Summarize();
  EXPECT_EQ(s.count, 100u);
  EXPECT_DOUBLE_EQ(s.p50_ms, 50.0);
  EXPECT_DOUBLE_EQ(s.p90_ms, 90.0);
  EXPECT_DOUBLE_EQ(s.p99_ms, 99.0);
  EXPECT_DOUBLE_EQ(s.max_ms, 100.0);
  EXPECT_DOUBLE_EQ(s.mean_ms, 50.5);
  deviceapi::bench::LatencyRecorder empty;
  EXPECT_EQ(empty.Summarize().count, 0u);
}

TEST(BenchOptions, EveryScenarioParses) {
  for (auto& name : deviceapi::bench::KnownScenarios()) {
    std::vector<const char*> argv = {"device-api-bench", name.c_str()};
    auto out = deviceapi::bench::ParseOptions(static_cast<int>(argv.size()), argv.data());
    EXPECT_TRUE(out.run) << name << ": " << out.error;
  }
}

}  // namespace
