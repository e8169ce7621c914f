// The SDK as a third party gets it: install the "sdk" component into a fresh
// prefix, build examples/health-gate against it with find_package(deviceapi),
// and run it against the real server while a GPU's health changes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "process.h"

namespace deviceapi::e2e {
namespace {

TEST(SdkInstall, ExampleBuildsAgainstInstalledPackageAndRuns) {
  char tmpl[] = "/tmp/dsdk-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string prefix = dir + "/prefix";
  CommandResult install = RunCommand(
      dir, {DEVICEAPI_CMAKE_COMMAND, "--install", DEVICEAPI_BINARY_DIR, "--component", "sdk",
            "--prefix", prefix});
  ASSERT_EQ(install.code, 0) << install.out << install.err;
  ASSERT_TRUE(std::filesystem::exists(prefix + "/lib/cmake/deviceapi/deviceapiConfig.cmake"));
  ASSERT_TRUE(std::filesystem::exists(prefix + "/lib/pkgconfig/deviceapi.pc"));
  ASSERT_TRUE(std::filesystem::exists(prefix + "/include/deviceapi/client.h"));
  EXPECT_FALSE(std::filesystem::exists(prefix + "/include/deviceapi/fake_client.h"));

  // pkg-config users get working flags from the relocated prefix.
  CommandResult pc = RunCommand(dir, {"pkg-config", "--cflags", "deviceapi"},
                                "PKG_CONFIG_PATH=" + Quote(prefix + "/lib/pkgconfig") + " ");
  EXPECT_EQ(pc.code, 0) << pc.err;
  EXPECT_NE(pc.out.find("/include/deviceapi/proto"), std::string::npos) << pc.out;

  std::string sanitize = DEVICEAPI_SANITIZE_FLAGS;
  std::vector<std::string> configure = {
      DEVICEAPI_CMAKE_COMMAND, "-S", std::string(DEVICEAPI_SOURCE_DIR) + "/examples/health-gate",
      "-B", dir + "/build", "-DCMAKE_PREFIX_PATH=" + prefix,
      "-DCMAKE_CXX_COMPILER=" DEVICEAPI_CXX_COMPILER};
  if (!std::string(DEVICEAPI_CCACHE).empty())
    configure.push_back("-DCMAKE_CXX_COMPILER_LAUNCHER=" DEVICEAPI_CCACHE);
  if (!sanitize.empty()) {
    configure.push_back("-DCMAKE_CXX_FLAGS=" + sanitize);
    configure.push_back("-DCMAKE_EXE_LINKER_FLAGS=" + sanitize);
  }
  CommandResult cfg = RunCommand(dir, configure);
  ASSERT_EQ(cfg.code, 0) << cfg.out << cfg.err;
  CommandResult build = RunCommand(dir, {DEVICEAPI_CMAKE_COMMAND, "--build", dir + "/build"});
  ASSERT_EQ(build.code, 0) << build.out << build.err;

  ServerProcess server(dir);
  ASSERT_TRUE(server.WaitReady()) << server.log();
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {DevicectlBinary(), "--server", server.target()});
    return RunCommand(dir, args);
  };
  std::ofstream(dir + "/gpu.yaml")
      << "metadata:\n  name: gpu-0\nspec:\n  uuid: GPU-00000000-1111-2222-3333-444444444444\n";
  ASSERT_EQ(ctl({"create", "-f", dir + "/gpu.yaml"}).code, 0);
  ASSERT_EQ(ctl({"set-condition", "gpu", "gpu-0", "NVMLReady=True", "--reason", "DriverReady"}).code, 0);

  // The fault is injected only once the gate has synced (it prints "synced:"), however
  // long an instrumented build takes to start; the gate then runs 5 s more.
  const std::string gate_out = dir + "/gate.out", gate_err = dir + "/gate.err";
  int gate_status = -1;
  std::thread t([&] {
    gate_status = std::system((Quote(dir + "/build/health-gate") + " --server " + Quote(server.target()) +
                               " --duration 5 > " + Quote(gate_out) + " 2> " + Quote(gate_err) + " < /dev/null")
                                  .c_str());
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Slurp(gate_out).find("synced:") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_NE(Slurp(gate_out).find("synced:"), std::string::npos) << Slurp(gate_err);
  EXPECT_EQ(ctl({"set-condition", "gpu", "gpu-0", "NVMLReady=False", "--reason", "XidCritical"}).code, 0);
  t.join();
  EXPECT_TRUE(WIFEXITED(gate_status) && WEXITSTATUS(gate_status) == 0) << Slurp(gate_err);
  EXPECT_EQ(Slurp(gate_out), "healthy: gpu-0\nsynced: 1 healthy of 1\nunhealthy: gpu-0 (XidCritical)\n")
      << Slurp(gate_err);
  server.Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace deviceapi::e2e
