// devicectl against the real device-api-server binary: every command, the
// --server flag and DEVICE_API_SERVER, exit codes and one-line errors.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <thread>
#include <fstream>

#include "process.h"

namespace deviceapi::e2e {
namespace {

class DevicectlE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dctl-XXXXXX";
    dir_ = mkdtemp(tmpl);
    server_ = std::make_unique<ServerProcess>(dir_);
    ASSERT_TRUE(server_->WaitReady()) << server_->log();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  CommandResult Ctl(std::vector<std::string> args, const std::string& stdin_file = "") {
    args.insert(args.begin(), {DevicectlBinary(), "--server", server_->target()});
    return RunCommand(dir_, args, "", stdin_file);
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }
  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(DevicectlE2E, WorkflowAgainstRealServer) {
  std::string file = Write("gpu.yaml",
                           "metadata:\n  name: gpu-0\n  labels:\n    zone: a\n"
                           "spec:\n  uuid: GPU-00000000-1111-2222-3333-444444444444\n");
  CommandResult c = Ctl({"create", "-f", file});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "gpu/gpu-0 created\n");

  CommandResult set = Ctl({"set-condition", "gpu", "gpu-0", "Ready=True", "--reason", "DriverReady",
                           "--message", "all good"});
  ASSERT_EQ(set.code, 0) << set.err;

  CommandResult table = Ctl({"get", "gpus"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_EQ(table.out.find("\033"), std::string::npos) << "colours on a pipe";
  EXPECT_EQ(table.out.rfind("NAME    UUID                                       READY   REASON        ACTION   AGE\n"
                            "gpu-0   GPU-00000000-1111-2222-3333-444444444444   True    DriverReady   <none>   ",
                            0),
            0u)
      << table.out;

  CommandResult json = Ctl({"get", "gpus", "gpu-0", "-o", "json"});
  EXPECT_NE(json.out.find("\"reason\": \"DriverReady\""), std::string::npos) << json.out;
  // What get -o yaml prints, create -f reads back.
  CommandResult yaml = Ctl({"get", "gpu", "gpu-0", "-o", "yaml"});
  ASSERT_EQ(yaml.code, 0);
  EXPECT_NE(yaml.out.find("status: \"True\""), std::string::npos) << yaml.out;
  ASSERT_EQ(Ctl({"delete", "gpu", "gpu-0"}).code, 0);
  CommandResult again = Ctl({"create", "-f", Write("again.yaml", yaml.out)});
  // The copy carries the old uid/resourceVersion: the server decides; both
  // outcomes are one line.
  EXPECT_TRUE(again.code == 0 || again.code == 1) << again.err;
  if (again.code != 0) {
    EXPECT_EQ(std::count(again.err.begin(), again.err.end(), '\n'), 1) << again.err;
    ASSERT_EQ(Ctl({"create", "-f", file}).code, 0);
  }

  EXPECT_EQ(Ctl({"label", "gpu", "gpu-0", "rack=7"}).code, 0);
  EXPECT_EQ(Ctl({"get", "gpus", "-l", "rack=7", "-o", "name"}).out, "gpu/gpu-0\n");
  EXPECT_EQ(Ctl({"get", "gpus", "-l", "rack=8", "-o", "name"}).out, "");
  EXPECT_EQ(Ctl({"get", "gpus", "-A", "-o", "wide"}).out.rfind("NAMESPACE   NAME", 0), 0u);

  CommandResult describe = Ctl({"describe", "gpu", "gpu-0"});
  EXPECT_EQ(describe.code, 0);
  EXPECT_NE(describe.out.find("rack=7"), std::string::npos) << describe.out;

  CommandResult health = Ctl({"health"});
  EXPECT_EQ(health.code, 0) << health.out << health.err;
  EXPECT_NE(health.out.find("health:  SERVING"), std::string::npos) << health.out;

  CommandResult del = Ctl({"delete", "gpu", "gpu-0"});
  EXPECT_EQ(del.code, 0);
  CommandResult missing = Ctl({"get", "gpus", "gpu-0"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err.rfind("Error from server (NotFound): ", 0), 0u) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
}

TEST_F(DevicectlE2E, ServerFromEnvironmentAndUsageErrors) {
  CommandResult r = RunCommand(dir_, {DevicectlBinary(), "get", "gpus", "-o", "name"},
                               "DEVICE_API_SERVER=" + Quote(server_->target()) + " ");
  EXPECT_EQ(r.code, 0) << r.err;
  CommandResult usage = Ctl({"get", "nodes"});
  EXPECT_EQ(usage.code, 2);
  CommandResult bad = Ctl({"create", "-f", Write("bad.yaml", "spec:\n  uuid: x\n")});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("Error from server (Invalid)"), std::string::npos) << bad.err;
}

TEST_F(DevicectlE2E, WatchPrintsChangesAsTheyHappen) {
  std::string file = Write("gpu.yaml",
                           "metadata:\n  name: gpu-0\nspec:\n  uuid: GPU-00000000-1111-2222-3333-444444444444\n");
  ASSERT_EQ(Ctl({"create", "-f", file}).code, 0);
  // Three watches at once: rows; names with their events; objects only
  // after the listing (--watch-only), as JSON.
  CommandResult rows, events, only;
  std::thread t1([&] { rows = Ctl({"get", "gpus", "-w", "--watch-timeout", "2"}); });
  std::thread t2([&] {
    events = Ctl({"get", "gpus", "-w", "-o", "name", "--output-watch-events", "--watch-timeout", "2"});
  });
  std::thread t3([&] { only = Ctl({"get", "gpus", "--watch-only", "-o", "json", "--watch-timeout", "2"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_EQ(Ctl({"set-condition", "gpu", "gpu-0", "Ready=False", "--reason", "XidCritical"}).code, 0);
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(rows.code, 0) << rows.err;
  EXPECT_NE(rows.out.find("Unknown"), std::string::npos) << rows.out;
  EXPECT_NE(rows.out.find("False     XidCritical"), std::string::npos) << rows.out;
  EXPECT_EQ(events.out, "ADDED gpu/gpu-0\nMODIFIED gpu/gpu-0\n") << events.err;
  EXPECT_EQ(only.out.rfind("{\n  \"apiVersion\": \"device.nvidia.com/v1alpha1\",\n  \"kind\": \"Gpu\",", 0),
            0u) << only.out << only.err;
  EXPECT_NE(only.out.find("\"XidCritical\""), std::string::npos) << only.out;
  EXPECT_EQ(only.out.find("\"type\": \"MODIFIED\""), std::string::npos) << only.out;
}

// A reader that goes away mid-watch (`| head -c1`) fails the next write:
// devicectl ends with exit code 1 and says why, rather than dying of
// SIGPIPE (141), which scripts under `set -o pipefail` would see.
TEST_F(DevicectlE2E, WatchWhoseReaderWentAwayExitsOne) {
  std::string file = Write("gpu.yaml",
                           "metadata:\n  name: gpu-0\nspec:\n  uuid: GPU-00000000-1111-2222-3333-444444444444\n");
  ASSERT_EQ(Ctl({"create", "-f", file}).code, 0);
  const std::string code_file = dir_ + "/watch.code", err_file = dir_ + "/watch.err";
  // devicectl inherits this process's SIGPIPE disposition: the default, as
  // from a shell, so that only devicectl's own handling counts.
  std::signal(SIGPIPE, SIG_DFL);
  const std::string cmd = "{ " + Quote(DevicectlBinary()) + " --server " + Quote(server_->target()) +
                          " get gpus -w --watch-timeout 5 2>" + Quote(err_file) + "; echo $? >" +
                          Quote(code_file) + "; } | head -c1 >/dev/null";
  std::thread watch([&] { std::system(cmd.c_str()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // head has read its byte and gone
  ASSERT_EQ(Ctl({"set-condition", "gpu", "gpu-0", "Ready=False", "--reason", "XidCritical"}).code, 0);
  watch.join();
  EXPECT_EQ(Slurp(code_file), "1\n") << Slurp(err_file);
  EXPECT_NE(Slurp(err_file).find("cannot write the output"), std::string::npos) << Slurp(err_file);
}

// A stalled server (stopped here with SIGSTOP: its connection stays open
// and silent) does not hold a watch with --watch-timeout beyond that plus
// --request-timeout; keepalive alone would take 40 s.
TEST_F(DevicectlE2E, WatchOnAStalledServerEndsAtItsTimeouts) {
  CommandResult watch;
  std::thread watcher([&] { watch = Ctl({"get", "gpus", "-w", "--watch-timeout", "1", "--request-timeout", "2s"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(kill(server_->pid(), SIGSTOP), 0);
  const auto t0 = std::chrono::steady_clock::now();
  watcher.join();
  const auto waited = std::chrono::steady_clock::now() - t0;
  kill(server_->pid(), SIGCONT);
  EXPECT_EQ(watch.code, 1) << watch.err;
  EXPECT_NE(watch.err.find("did not end the watch"), std::string::npos) << watch.err;
  EXPECT_LT(waited, std::chrono::seconds(15));
}

// kubectl's conventions against the real server: -n defaults to "default"
// and -A adds the NAMESPACE column; several names; -l and --all; table
// columns and sorting; --request-timeout; version of both ends.
TEST_F(DevicectlE2E, KubectlConventions) {
  auto create = [&](const std::string& name, const std::string& ns, const std::string& zone, int i) {
    std::string yaml = "metadata:\n  name: " + name + "\n  namespace: " + ns +
                       "\n  labels:\n    zone: " + zone + "\nspec:\n  uuid: GPU-0000000" +
                       std::to_string(i) + "-1111-2222-3333-444444444444\n";
    ASSERT_EQ(Ctl({"create", "-f", Write(name + ".yaml", yaml)}).code, 0);
  };
  create("gpu-0", "default", "b", 0);
  create("gpu-1", "default", "a", 1);
  create("gpu-2", "team-a", "a", 2);

  EXPECT_EQ(Ctl({"get", "gpus", "-o", "name"}).out, "gpu/gpu-0\ngpu/gpu-1\n");
  CommandResult all = Ctl({"get", "gpus", "-A"});
  EXPECT_EQ(all.out.rfind("NAMESPACE   NAME    UUID", 0), 0u) << all.out;
  EXPECT_NE(all.out.find("\nteam-a      gpu-2   "), std::string::npos) << all.out;
  EXPECT_EQ(Ctl({"get", "gpus", "-n", "team-a", "-o", "name"}).out, "gpu/gpu-2\n");
  EXPECT_EQ(Ctl({"get", "gpu", "gpu-1", "gpu-0", "-o", "name"}).out, "gpu/gpu-1\ngpu/gpu-0\n");
  CommandResult list = Ctl({"get", "gpus", "-o", "yaml"});
  EXPECT_EQ(list.out.rfind("apiVersion: device.nvidia.com/v1alpha1\nkind: GpuList\n", 0), 0u)
      << list.out;
  CommandResult gathered = Ctl({"get", "gpu", "gpu-0", "gpu-1", "-o", "yaml"});
  EXPECT_EQ(gathered.out.rfind("apiVersion: v1\nkind: List\n", 0), 0u) << gathered.out;

  EXPECT_EQ(Ctl({"get", "gpus", "--sort-by", ".metadata.labels.zone", "-o", "name"}).out,
            "gpu/gpu-1\ngpu/gpu-0\n");
  CommandResult bare = Ctl({"get", "gpus", "--no-headers", "-L", "zone", "--show-labels"});
  EXPECT_EQ(bare.out.rfind("gpu-0   GPU-00000000", 0), 0u) << bare.out;
  EXPECT_NE(bare.out.find("   b   zone=b\n"), std::string::npos) << bare.out;
  EXPECT_EQ(Ctl({"--request-timeout=5s", "get", "gpus", "-o", "name"}).code, 0);
  EXPECT_EQ(Ctl({"--request-timeout", "later", "get", "gpus"}).code, 2);

  CommandResult described = Ctl({"describe", "gpus", "-l", "zone=a"});
  EXPECT_EQ(described.out.rfind("Name:               gpu-1\n", 0), 0u) << described.out;
  EXPECT_EQ(described.out.find("gpu-0"), std::string::npos) << described.out;

  CommandResult version = Ctl({"version"});
  ASSERT_EQ(version.code, 0) << version.err;
  std::string client_line = version.out.substr(0, version.out.find('\n'));
  ASSERT_EQ(client_line.rfind("Client Version: ", 0), 0u) << version.out;
  // This build's server: the same version as this build's client.
  EXPECT_EQ(version.out, client_line + "\nServer Version: " +
                             client_line.substr(std::string("Client Version: ").size()) + "\n");
  CommandResult version_json = Ctl({"version", "-o", "json"});
  EXPECT_NE(version_json.out.find("\"serverVersion\": {\n    \"version\": "), std::string::npos)
      << version_json.out;
  EXPECT_EQ(version_json.out.find("\"commit\": \"\""), std::string::npos) << version_json.out;

  EXPECT_EQ(Ctl({"delete", "gpus", "-l", "zone=a"}).out, "gpu/gpu-1 deleted\n");
  EXPECT_EQ(Ctl({"delete", "gpus", "--all", "-n", "team-a"}).out, "gpu/gpu-2 deleted\n");
  CommandResult two = Ctl({"delete", "gpu", "gpu-0", "gpu-1"});
  EXPECT_EQ(two.code, 1);
  EXPECT_EQ(two.out, "gpu/gpu-0 deleted\n");
  EXPECT_EQ(two.err.rfind("Error from server (NotFound)", 0), 0u) << two.err;
  EXPECT_EQ(Ctl({"get", "gpus", "-A", "-o", "name"}).out, "");
}

// S21 through devicectl: before the server is ready, health says so and reads
// fail with the server's "not ready" message; writes are accepted.
TEST(DevicectlReadiness, HealthAndReadsBeforeReady) {
  char tmpl[] = "/tmp/dctl-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    ServerProcess server(dir, {"--readiness-min-gpus", "1"});
    ASSERT_TRUE(server.WaitSocket()) << server.log();
    auto ctl = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {DevicectlBinary(), "--server", server.target()});
      return RunCommand(dir, args);
    };
    CommandResult health = ctl({"health"});
    EXPECT_EQ(health.code, 1) << health.out << health.err;
    EXPECT_NE(health.out.find("health:  NOT_SERVING"), std::string::npos) << health.out;
    EXPECT_NE(health.out.find("ready:   false (not ready"), std::string::npos) << health.out;
    CommandResult get = ctl({"get", "gpus"});
    EXPECT_EQ(get.code, 1);
    EXPECT_EQ(get.err.rfind("Error from server (ServiceUnavailable): not ready", 0), 0u) << get.err;
    std::ofstream(dir + "/gpu.yaml")
        << "metadata:\n  name: gpu-0\nspec:\n  uuid: GPU-00000000-1111-2222-3333-444444444444\n";
    ASSERT_EQ(ctl({"create", "-f", dir + "/gpu.yaml"}).code, 0);
    ASSERT_TRUE(server.WaitReady()) << server.log();
    CommandResult ready = ctl({"health"});
    EXPECT_EQ(ready.code, 0) << ready.out << ready.err;
    EXPECT_EQ(ctl({"get", "gpus", "-o", "name"}).out, "gpu/gpu-0\n");
  }
  std::filesystem::remove_all(dir);
}

TEST(DevicectlNoServer, UnreachableServerIsOneLineExitOne) {
  char tmpl[] = "/tmp/dctl-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  CommandResult r = RunCommand(dir, {DevicectlBinary(), "--server", "unix://" + dir + "/none.sock",
                                     "--timeout", "2", "get", "gpus"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("error: cannot reach the server at unix://", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  CommandResult h = RunCommand(dir, {DevicectlBinary(), "--server", "unix://" + dir + "/none.sock",
                                     "health"});
  EXPECT_EQ(h.code, 1);
  // As kubectl: the client's version, then the error reaching the server.
  CommandResult v = RunCommand(dir, {DevicectlBinary(), "--server", "unix://" + dir + "/none.sock",
                                     "--request-timeout", "2s", "version"});
  EXPECT_EQ(v.code, 1);
  EXPECT_EQ(v.out.rfind("Client Version: ", 0), 0u) << v.out;
  EXPECT_EQ(v.out.find("Server Version"), std::string::npos) << v.out;
  EXPECT_EQ(v.err.rfind("error: cannot reach the server at unix://", 0), 0u) << v.err;
  CommandResult client = RunCommand(dir, {DevicectlBinary(), "version", "--client"});
  EXPECT_EQ(client.code, 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace deviceapi::e2e
