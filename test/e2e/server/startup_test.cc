// Start-up of the real binary: every bad flag ends it with exit code 2 and
// exactly one line on stderr naming the flag; --version and --help; the
// environment variables and their precedence below flags.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.h"

namespace deviceapi::testing {
namespace {

struct BadFlags {
  std::string name;
  std::vector<std::string> args;  // appended to BaseArgs
  std::string must_mention;       // a substring of the one stderr line
};

class StartupValidation : public ::testing::TestWithParam<BadFlags> {};

TEST_P(StartupValidation, ExitsTwoWithOneLine) {
  TempDir dir;
  auto args = BaseArgs(dir.File("api.sock"));
  for (auto a : GetParam().args) {
    // "{dir}" stands for the test's temporary directory.
    if (auto at = a.find("{dir}"); at != std::string::npos) a.replace(at, 5, dir.path());
    args.push_back(a);
  }
  // A regular file where a socket is expected.
  std::ofstream(dir.File("not-a-socket")) << "data";

  ExitResult r = RunToExit(args);
  ASSERT_TRUE(r.exited) << r.err;
  EXPECT_EQ(r.code, 2) << r.err;
  auto lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("device-api-server: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(GetParam().must_mention), std::string::npos) << lines[0];
  EXPECT_TRUE(r.out.empty()) << r.out;
  // Nothing was left behind.
  EXPECT_NE(access(dir.File("api.sock").c_str(), F_OK), 0);
}

const std::string kLong(120, 'x');

INSTANTIATE_TEST_SUITE_P(
    BadFlags, StartupValidation,
    ::testing::Values(
        BadFlags{"MetricsPortOutOfRange", {"--metrics-bind-address=:99999"},
                 "--metrics-bind-address \":99999\": port out of range"},
        BadFlags{"ProbePortNotNumber", {"--health-probe-bind-address=:http"}, "port is not a number"},
        BadFlags{"ProbeMissingPort", {"--health-probe-bind-address=127.0.0.1"}, "expected host:port"},
        BadFlags{"AbstractSocketPrefix", {"--bind-address=unix-abstract:device-api"}, "abstract"},
        BadFlags{"AbstractSocketAt", {"--bind-address=@device-api"}, "abstract"},
        BadFlags{"AbstractSocketUnixAt", {"--bind-address=unix:@device-api"}, "abstract"},
        BadFlags{"BindAddressTcp", {"--bind-address=127.0.0.1:5000"}, "must be a Unix socket"},
        BadFlags{"SocketPathTooLong", {"--bind-address=unix://{dir}/" + kLong + ".sock"}, "longer than"},
        BadFlags{"SocketPathIsRegularFile", {"--bind-address=unix://{dir}/not-a-socket"},
                 "not a socket"},
        BadFlags{"SocketParentIsFile", {"--bind-address=unix://{dir}/not-a-socket/api.sock"},
                 "is not a directory"},
        BadFlags{"GraceNotDuration", {"--shutdown-grace-period=soon"}, "--shutdown-grace-period"},
        BadFlags{"GraceZero", {"--shutdown-grace-period=0"}, "must be between"},
        BadFlags{"GraceNegative", {"--shutdown-grace-period=-5s"}, "not a duration"},
        BadFlags{"SizeBadUnit", {"--max-recv-msg-size=4Zi"}, "--max-recv-msg-size \"4Zi\""},
        BadFlags{"SizeTooBig", {"--max-send-msg-size=3Gi"}, "must be between"},
        BadFlags{"CountNegative", {"--readiness-min-gpus=-1"}, "--readiness-min-gpus"},
        BadFlags{"CountZero", {"--max-objects=0"}, "--max-objects \"0\": must be between"},
        BadFlags{"CountGarbage", {"--max-watchers=12abc"}, "not a whole number"},
        BadFlags{"LogFormat", {"--log-format=xml"}, "must be json or text"},
        BadFlags{"Verbosity", {"-v", "99"}, "-v \"99\""},
        BadFlags{"UnknownFlag", {"--no-such-flag=1"}, "no-such-flag"},
        BadFlags{"UnknownGroup", {"--socket-group=no-such-group-zz"}, "no such group"},
        BadFlags{"PlaintextNonLoopback", {"--tcp-bind-address=0.0.0.0:0"}, "loopback"},
        BadFlags{"PlaintextAllInterfaces", {"--tcp-bind-address=:0"}, "loopback"},
        BadFlags{"PlaintextHostName", {"--tcp-bind-address=example.com:8443"}, "loopback"},
        BadFlags{"CertWithoutKey", {"--tcp-bind-address=127.0.0.1:0", "--tls-cert-file={dir}/c.pem"},
                 "needs --tls-key-file"},
        BadFlags{"ClientCaWithoutCert", {"--tls-client-ca-file={dir}/ca.pem"}, "needs --tls-cert-file"},
        BadFlags{"CertUnreadable",
                 {"--tcp-bind-address=127.0.0.1:0", "--tls-cert-file={dir}/missing.pem",
                  "--tls-key-file={dir}/missing.key"},
                 "cannot read"},
        BadFlags{"CertNotPem",
                 {"--tcp-bind-address=127.0.0.1:0", "--tls-cert-file={dir}/not-a-socket",
                  "--tls-key-file={dir}/not-a-socket"},
                 "no PEM certificate"},
        BadFlags{"TlsWithoutTcp", {"--tls-cert-file={dir}/c.pem", "--tls-key-file={dir}/k.pem"},
                 "--tcp-bind-address"},
        BadFlags{"PortCollisionOwnListeners",
                 {"--health-probe-bind-address=:7001", "--metrics-bind-address=127.0.0.1:7001"},
                 "port 7001 is already used by --health-probe-bind-address"}),
    [](const auto& info) { return info.param.name; });

TEST(Startup, VersionIsJson) {
  ExitResult r = RunToExit({"--version"});
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  for (const char* key : {"version", "commit", "compiler"}) {
    ASSERT_TRUE(j.contains(key)) << r.out;
    EXPECT_FALSE(j[key].get<std::string>().empty()) << key;
  }
  EXPECT_TRUE(j.contains("buildDate") || j.contains("build_date")) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(Startup, HelpListsFlagsAndEnvironment) {
  ExitResult r = RunToExit({"--help"});
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.code, 0);
  for (const char* text :
       {"--bind-address", "--health-probe-bind-address", "--metrics-bind-address", "--tcp-bind-address",
        "--shutdown-grace-period", "--readiness-min-gpus", "--max-recv-msg-size", "--socket-group",
        "--tls-client-ca-file", "DEVICE_API_BIND_ADDRESS", "DEVICE_API_METRICS_BIND_ADDRESS",
        "NODE_NAME", "LOG_FORMAT"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text;
  }
}

TEST(Startup, EnvironmentValueIsValidated) {
  TempDir dir;
  // Only the socket on the command line: the metrics address comes from the environment.
  ExitResult r = RunToExit({"--bind-address=unix://" + dir.File("api.sock"),
                            "--health-probe-bind-address=127.0.0.1:0"},
                           {{"DEVICE_API_METRICS_BIND_ADDRESS", ":99999"}});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--metrics-bind-address \":99999\": port out of range"), std::string::npos)
      << r.err;
}

TEST(Startup, FlagWinsOverEnvironment) {
  TempDir dir;
  // Both the environment and the flag set the metrics address: the flag's valid one is used.
  auto s = StartServer(dir.File("api.sock"), {"--hostname-override=from-flag", "--log-format=json"},
                       {{"DEVICE_API_METRICS_BIND_ADDRESS", ":99999"},
                        {"NODE_NAME", "from-env"},
                        {"LOG_FORMAT", "text"}});
  ASSERT_TRUE(s) << s.process->Stderr();
  EXPECT_EQ(s.started.value("hostname", ""), "from-flag");
  EXPECT_GT(s.metrics_port, 0);
}

TEST(Startup, EnvironmentAppliesWithoutFlag) {
  TempDir dir;
  auto sock = dir.File("env.sock");
  // Socket path, node name and text logs all from the environment.
  ServerProcess p({"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=127.0.0.1:0"},
                  {{"DEVICE_API_BIND_ADDRESS", "unix://" + sock},
                   {"NODE_NAME", "node-from-env"},
                   {"LOG_FORMAT", "text"}});
  ASSERT_TRUE(p.WaitForLog("device-api-server started", std::chrono::seconds(10))) << p.Stderr();
  EXPECT_NE(p.Stderr().find("node-from-env"), std::string::npos) << p.Stderr();
  EXPECT_NE(p.Stderr().find("env.sock"), std::string::npos);
  EXPECT_EQ(p.Stderr().front(), '2') << "text format starts with the timestamp: " << p.Stderr();
  EXPECT_EQ(access(sock.c_str(), F_OK), 0);
  p.Signal(SIGTERM);
  EXPECT_EQ(p.Wait(std::chrono::seconds(10)).code, 0);
}

TEST(Startup, ReadyQuicklyWithEmptyStore) {
  TempDir dir;
  auto t0 = std::chrono::steady_clock::now();
  auto s = StartServer(dir.File("api.sock"));
  ASSERT_TRUE(s) << s.process->Stderr();
  ASSERT_TRUE(WaitForHealth(TcpChannel(s.probe_port), grpc::health::v1::HealthCheckResponse::SERVING));
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("spawn to SERVING: %.1f ms; in-process start-up: %.1f ms\n", ms,
              s.started.value("startup_ms", -1.0));
  // Generous for sanitizer builds on a loaded 2-core machine; the figure is printed.
  EXPECT_LT(ms, 3000);
  EXPECT_LT(s.started.value("startup_ms", 1e9), 1000);
}

}  // namespace
}  // namespace deviceapi::testing
