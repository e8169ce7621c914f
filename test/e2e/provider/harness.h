// Test harness for end-to-end provider tests: runs the real device-api-server
// and nvml-provider binaries (against the fake libnvidia-ml.so.1 through
// --driver-root) in a private temp dir, and talks to them the way users do:
// the client SDK for the server, the fake's control socket for NVML.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "control_client.h"
#include "deviceapi/client.h"
#include "deviceapi/conditions.h"

namespace e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline const std::string kBin = DEVICEAPI_BINARY_DIR;
inline const std::string kServerBin = kBin + "/cmd/device-api-server/device-api-server";
inline const std::string kProviderBin = kBin + "/cmd/nvml-provider/nvml-provider";
inline const std::string kFakeRoot = kBin + "/fake-driver-root";

// A child process with its output in a file; stopped on destruction.
using Process = deviceapi::testing::ChildProcess;

inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds t = 10s) {
  auto end = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class Env {
 public:
  explicit Env(const std::string& name) {
    dir_ = fs::temp_directory_path() / ("prov-e2e-" + std::to_string(getpid()) + "-" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    socket_ = (dir_ / "api.sock").string();
    ctl_ = (dir_ / "fake.sock").string();
    deviceapi::ClientOptions o;
    o.target = "unix://" + socket_;
    o.default_timeout = 2s;
    client_ = std::make_unique<deviceapi::Client>(o);
  }
  ~Env() {
    provider_.reset();
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A stateless server by default; `durable` keeps its state in a database
  // file in the test's directory, which a restart loads again. `flags` are added.
  void StartServer(bool durable = false, const std::vector<std::string>& flags = {}) {
    const std::string storage = durable ? "sqlite" : "memory";
    const std::string endpoint = "sqlite://" + (dir_ / "state.db").string();
    std::vector<std::string> argv{kServerBin, "--bind-address", "unix://" + socket_, "--metrics-bind-address", "",
                                  "--health-probe-bind-address", "", "--shutdown-grace-period", "2s",
                                  "--storage-type", storage, "--storage-endpoint", endpoint};
    argv.insert(argv.end(), flags.begin(), flags.end());
    server_ = std::make_unique<Process>(
        argv, std::map<std::string, std::string>{}, (dir_ / ("server" + std::to_string(++server_runs_) + ".log")).string());
    // Generous: under ASan on a loaded 2-core machine a start has taken over 10 s.
    bool up = WaitUntil([&] { return client_->CheckHealth().ok() || !server_->running(); }, 30s);
    ASSERT_TRUE(up && server_->running()) << server_->Log();
  }
  void KillServer() {
    server_->Signal(SIGKILL);
    server_->Wait(5s);
    server_.reset();
  }

  // Starts the provider; extra flags and env on top of the test defaults.
  void StartProvider(std::vector<std::string> flags = {}, std::map<std::string, std::string> env = {},
                     bool wait_synced = true) {
    // Test defaults; a flag the test passes replaces its default.
    std::vector<std::pair<std::string, std::string>> opts{
        {"--server", "unix://" + socket_}, {"--driver-root", kFakeRoot}, {"--admin-address", "127.0.0.1:0"},
        {"--reconcile-interval", "1s"}, {"--event-wait-timeout", "50ms"}, {"--backoff-max", "300ms"},
        {"--log-level", "debug"}};
    std::vector<std::string> bools;
    for (size_t i = 0; i < flags.size(); ++i) {
      if (flags[i].rfind("--no-", 0) == 0 || i + 1 == flags.size()) {
        bools.push_back(flags[i]);
        continue;
      }
      bool replaced = false;
      for (auto& [k, v] : opts)
        if (k == flags[i]) { v = flags[i + 1]; replaced = true; }
      if (!replaced) opts.emplace_back(flags[i], flags[i + 1]);
      ++i;
    }
    std::vector<std::string> argv{kProviderBin};
    for (auto& [k, v] : opts) { argv.push_back(k); argv.push_back(v); }
    argv.insert(argv.end(), bools.begin(), bools.end());
    env.emplace("FAKE_NVML_CONTROL", ctl_);
    env.emplace("FAKE_NVML_GPUS", "8");
    ++provider_runs_;
    provider_ = std::make_unique<Process>(argv, env, (dir_ / ("provider" + std::to_string(provider_runs_) + ".log")).string());
    if (wait_synced) {
      bool ok = WaitUntil([&] { return ProviderLog().find("first sync done") != std::string::npos || !provider_->running(); }, 30s);
      ASSERT_TRUE(ok && provider_->running()) << ProviderLog();
    }
  }
  // Starts the server, then the provider on the fake NVML scenario `json` (a JSON object).
  void StartWithScenario(const std::string& json, std::vector<std::string> flags = {}) {
    auto sc = dir_ / "scenario.json";
    std::ofstream(sc) << json;
    StartServer();
    StartProvider(std::move(flags), {{"FAKE_NVML_SCENARIO", sc.string()}});
  }
  std::string ProviderLog() const { return provider_ ? provider_->Log() : ""; }
  int AdminPort() const {
    auto log = ProviderLog();
    auto p = log.find("admin listening");
    if (p == std::string::npos) return -1;
    auto q = log.find("port=", p);
    return std::stoi(log.substr(q + 5));
  }

  std::string Ctl(const std::string& json) { return fakenvml::SendControl(ctl_, json); }
  void InjectXid(int gpu, uint64_t xid) {
    ASSERT_EQ(Ctl("{\"op\":\"xid\",\"gpu\":" + std::to_string(gpu) + ",\"xid\":" + std::to_string(xid) + "}"), "ok");
  }

  // GPU objects by NVML index (from status.device_info.index).
  std::map<int, deviceapi::Gpu> Gpus() {
    std::map<int, deviceapi::Gpu> out;
    auto l = client_->List();
    if (!l.ok()) return out;
    for (auto& g : l->items()) out[g.status().device_info().index()] = g;
    return out;
  }
  std::optional<deviceapi::Gpu> GpuAt(int index) {
    auto m = Gpus();
    auto it = m.find(index);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }
  const deviceapi::Condition* Ready(const deviceapi::Gpu& g) {
    return deviceapi::FindCondition(g.status(), "NVMLReady");
  }
  // Waits until GPU `index` has NVMLReady == status (and reason, when given).
  bool WaitReady(int index, const std::string& status, const std::string& reason = "", std::chrono::milliseconds t = 5s) {
    return WaitUntil([&] {
      auto g = GpuAt(index);
      if (!g) return false;
      auto* c = Ready(*g);
      return c && c->status() == status && (reason.empty() || c->reason() == reason);
    }, t);
  }

  deviceapi::Client& client() { return *client_; }
  Process* provider() { return provider_.get(); }
  Process* server() { return server_.get(); }
  const fs::path& dir() const { return dir_; }
  void StopProvider() { provider_.reset(); }

 private:
  fs::path dir_;
  std::string socket_, ctl_;
  std::unique_ptr<deviceapi::Client> client_;
  std::unique_ptr<Process> server_, provider_;
  int provider_runs_ = 0;
  int server_runs_ = 0;
};

}  // namespace e2e
