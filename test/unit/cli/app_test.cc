// devicectl end to end in-process: Run() against a FakeClient (the real
// service behind an in-process channel), checking output, one-line errors
// and exit codes (0 ok, 1 error, 2 usage) for every command, bad input
// included.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/app.h"
#include "deviceapi/conditions.h"
#include "deviceapi/fake_client.h"

namespace deviceapi::cli {
namespace {

struct Result {
  int code;
  std::string out, err;
};

class DevicectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/devicectl-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    std::ostringstream out, err;
    std::istringstream in(stdin_text);
    Environment env;
    env.now = TimePoint(std::chrono::seconds(2000000000));
    env.in = &in;
    env.connect = [this](const std::string& target, int) {
      last_target_ = target;
      return std::shared_ptr<Client>(&fake_, [](Client*) {});
    };
    env.server_env = server_env_;
    int code = cli::Run(args, out, err, env);
    return {code, out.str(), err.str()};
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  void CreateSample(const std::string& name, int i, const std::string& extra_labels = "") {
    char uuid[64];
    std::snprintf(uuid, sizeof(uuid), "GPU-%08x-1111-2222-3333-444444444444", i);
    std::string yaml = "metadata:\n  name: " + name + "\n  labels:\n    zone: " +
                       (i % 2 ? "b" : "a") + "\n" + extra_labels + "spec:\n  uuid: " + uuid + "\n";
    Result r = Run({"create", "-f", Write(name + ".yaml", yaml)});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "gpu/" + name + " created\n");
  }

  static void ExpectOneLineError(const Result& r, int code, const std::string& needle) {
    EXPECT_EQ(r.code, code) << r.out << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    if (code == kExitError) {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }

  std::string dir_;
  std::string server_env_;
  std::string last_target_;
  FakeClient fake_;
};

TEST_F(DevicectlTest, GetListsAndFormats) {
  Result empty = Run({"get", "gpus"});
  EXPECT_EQ(empty.code, 0);
  EXPECT_EQ(empty.out, "");
  EXPECT_EQ(empty.err, "No resources found\n");

  CreateSample("gpu-0", 0);
  CreateSample("gpu-1", 1);
  Result table = Run({"get", "gpus"});
  ASSERT_EQ(table.code, 0) << table.err;
  std::istringstream lines(table.out);
  std::string header, row0, row1;
  std::getline(lines, header);
  std::getline(lines, row0);
  std::getline(lines, row1);
  EXPECT_EQ(header.rfind("NAME    UUID", 0), 0u) << header;
  EXPECT_LT(header.find("UUID"), header.find("READY"));
  EXPECT_LT(header.find("READY"), header.find("REASON"));
  EXPECT_LT(header.find("REASON"), header.find("ACTION"));
  EXPECT_LT(header.find("ACTION"), header.find("AGE"));
  EXPECT_EQ(row0.rfind("gpu-0   GPU-00000000-1111-2222-3333-444444444444   Unknown   <none>",
                       0), 0u) << row0;

  EXPECT_EQ(Run({"get", "gpus", "-o", "name"}).out, "gpu/gpu-0\ngpu/gpu-1\n");
  EXPECT_EQ(Run({"get", "gpu", "gpu-1", "-o", "name"}).out, "gpu/gpu-1\n");
  EXPECT_EQ(Run({"get", "gpus", "-l", "zone=b", "-o", "name"}).out, "gpu/gpu-1\n");
  EXPECT_EQ(Run({"get", "gpus", "-n", "other", "-o", "name"}).out, "");
  Result json = Run({"get", "gpus", "-o", "json"});
  EXPECT_NE(json.out.find("\"kind\": \"GpuList\""), std::string::npos);
  Result yaml = Run({"get", "gpu", "gpu-0", "-o", "yaml"});
  EXPECT_NE(yaml.out.find("  name: gpu-0\n"), std::string::npos) << yaml.out;
  Result wide = Run({"get", "gpus", "-o", "wide", "-A"});
  EXPECT_EQ(wide.out.rfind("NAMESPACE   NAME", 0), 0u) << wide.out;
  EXPECT_NE(wide.out.find("LABELS"), std::string::npos);
}

TEST_F(DevicectlTest, ServerFlagThenEnvThenDefault) {
  Run({"get", "gpus"});
  EXPECT_EQ(last_target_, kDefaultServerTarget);
  server_env_ = "unix:///tmp/env.sock";
  Run({"get", "gpus"});
  EXPECT_EQ(last_target_, "unix:///tmp/env.sock");
  Run({"--server", "unix:///tmp/flag.sock", "get", "gpus"});
  EXPECT_EQ(last_target_, "unix:///tmp/flag.sock");
}

TEST_F(DevicectlTest, DescribeShowsConditionsWithAges) {
  CreateSample("gpu-0", 0);
  Result set = Run({"set-condition", "gpu-0", "Ready=False", "--reason", "XidCritical",
                    "--message", "Xid 79"});
  ASSERT_EQ(set.code, 0) << set.err;
  EXPECT_EQ(set.out, "gpu/gpu-0 condition Ready=False\n");
  Result d = Run({"describe", "gpu", "gpu-0"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_NE(d.out.find("Name:               gpu-0\n"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("Conditions:\n  TYPE    STATUS   REASON        AGE"), std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("Ready   False    XidCritical"), std::string::npos) << d.out;
  Result t = Run({"get", "gpus"});
  EXPECT_NE(t.out.find("False   XidCritical"), std::string::npos) << t.out;
}

TEST_F(DevicectlTest, SetConditionKeepsOtherConditions) {
  CreateSample("gpu-0", 0);
  ASSERT_EQ(Run({"set-condition", "gpu-0", "Ready=True", "--reason", "Fine"}).code, 0);
  ASSERT_EQ(Run({"set-condition", "gpu-0", "example.com/Drained=False"}).code, 0);
  StatusOr<Gpu> g = fake_.Get("gpu-0");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(IsConditionTrue(g->status(), "Ready"));
  EXPECT_NE(FindCondition(g->status(), "example.com/Drained"), nullptr);
}

TEST_F(DevicectlTest, LabelAddsOverwritesRemoves) {
  CreateSample("gpu-0", 0);
  Result add = Run({"label", "gpu", "gpu-0", "rack=12", "drained=yes"});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.out, "gpu/gpu-0 labeled\n");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0", "rack=13"}), kExitError, "--overwrite");
  ASSERT_EQ(Run({"label", "gpu", "gpu-0", "rack=13", "--overwrite", "drained-"}).code, 0);
  StatusOr<Gpu> g = fake_.Get("gpu-0");
  EXPECT_EQ(g->metadata().labels().at("rack"), "13");
  EXPECT_EQ(g->metadata().labels().count("drained"), 0u);
}

TEST_F(DevicectlTest, CreateFromStdinJsonAndDelete) {
  std::string json = R"({"metadata":{"name":"gpu-7"},"spec":{"uuid":"GPU-00000007-1111-2222-3333-444444444444"}})";
  Result c = Run({"create", "-f", "-"}, json);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "gpu/gpu-7 created\n");
  Result d = Run({"delete", "gpu", "gpu-7"});
  EXPECT_EQ(d.code, 0);
  EXPECT_EQ(d.out, "gpu/gpu-7 deleted\n");
  ExpectOneLineError(Run({"delete", "gpu", "gpu-7"}), kExitError, "Error from server (NotFound)");
}

TEST_F(DevicectlTest, WatchStreamsRows) {
  CreateSample("gpu-0", 0);
  Result r;
  std::thread watcher([&] { r = Run({"get", "gpus", "-w", "--watch-timeout", "1", "-o", "name"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Run({"set-condition", "gpu-0", "Ready=True"});
  CreateSample("gpu-1", 1);
  watcher.join();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "gpu/gpu-0\ngpu/gpu-0\ngpu/gpu-1\n");
}

TEST_F(DevicectlTest, HealthAndVersion) {
  Result h = Run({"health"});
  EXPECT_EQ(h.code, 0) << h.out << h.err;
  EXPECT_NE(h.out.find("health:  SERVING"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("ready:   true"), std::string::npos) << h.out;
  Result v = Run({"version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("devicectl ", 0), 0u);
}

TEST_F(DevicectlTest, HelpExitsZero) {
  Result h = Run({"--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("Subcommands:"), std::string::npos);
  Result g = Run({"get", "--help"});
  EXPECT_EQ(g.code, 0);
  EXPECT_NE(g.out.find("--watch"), std::string::npos) << g.out;
}

// Bad input to each command: usage errors exit 2, failures exit 1, and each
// error is one line.
TEST_F(DevicectlTest, BadInputToEveryCommand) {
  CreateSample("gpu-0", 0);
  // Usage (2).
  ExpectOneLineError(Run({}), kExitUsage, "error:");
  ExpectOneLineError(Run({"frobnicate"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"--timeout", "0", "get", "gpus"}), kExitUsage, "--timeout");
  ExpectOneLineError(Run({"--timeout", "abc", "get", "gpus"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"get"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"get", "pods"}), kExitUsage, "pods");
  ExpectOneLineError(Run({"get", "gpus", "-o", "xml"}), kExitUsage, "xml");
  ExpectOneLineError(Run({"get", "gpus", "gpu-0", "-l", "a=b"}), kExitUsage, "selector");
  ExpectOneLineError(Run({"get", "gpus", "--bogus"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"get", "gpus", "-w", "--watch-timeout", "-3"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"describe", "gpu"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"describe", "node", "x"}), kExitUsage, "node");
  ExpectOneLineError(Run({"create"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"delete", "gpu"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0", "novalue"}), kExitUsage, "novalue");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0", "=v"}), kExitUsage, "empty key");
  ExpectOneLineError(Run({"set-condition", "gpu-0"}), kExitUsage, "error:");
  ExpectOneLineError(Run({"set-condition", "gpu-0", "Ready"}), kExitUsage, "TYPE=STATUS");
  ExpectOneLineError(Run({"set-condition", "gpu-0", "Ready=Maybe"}), kExitUsage, "Maybe");
  ExpectOneLineError(Run({"version", "extra"}), kExitUsage, "error:");

  // Failures (1), with the server's message.
  ExpectOneLineError(Run({"get", "gpus", "missing"}), kExitError, "Error from server (NotFound)");
  ExpectOneLineError(Run({"get", "gpus", "-l", "zone in ("}), kExitError,
                     "Error from server (Invalid)");
  ExpectOneLineError(Run({"describe", "gpu", "missing"}), kExitError, "(NotFound)");
  ExpectOneLineError(Run({"create", "-f", dir_ + "/nope.yaml"}), kExitError, "cannot read");
  ExpectOneLineError(Run({"create", "-f", Write("bad.yaml", "metadata:\n\tname: x\n")}),
                     kExitError, "tabs");
  ExpectOneLineError(Run({"create", "-f", Write("bad.json", "{\"metadata\": ")}), kExitError,
                     "not valid JSON");
  ExpectOneLineError(Run({"create", "-f", Write("kind.yaml", "kind: Pod\n")}), kExitError,
                     "kind");
  ExpectOneLineError(
      Run({"create", "-f", Write("uuid.yaml", "metadata:\n  name: gpu-x\nspec:\n  uuid: nope\n")}),
      kExitError, "Error from server (Invalid)");
  ExpectOneLineError(Run({"create", "-f", Write("dup.yaml",
                                                "metadata:\n  name: gpu-0\nspec:\n  uuid: "
                                                "GPU-00000000-1111-2222-3333-444444444444\n")}),
                     kExitError, "(AlreadyExists)");
  ExpectOneLineError(Run({"delete", "gpu", "missing"}), kExitError, "(NotFound)");
  ExpectOneLineError(Run({"label", "gpu", "missing", "a=b"}), kExitError, "(NotFound)");
  ExpectOneLineError(Run({"label", "gpu", "gpu-0", "bad key!=v"}), kExitError, "(Invalid)");
  ExpectOneLineError(Run({"set-condition", "missing", "Ready=True"}), kExitError, "(NotFound)");
  ExpectOneLineError(Run({"set-condition", "gpu-0", "not camel=True"}), kExitError, "(Invalid)");
}

}  // namespace
}  // namespace deviceapi::cli
