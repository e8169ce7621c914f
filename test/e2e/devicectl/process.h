// Real binaries for e2e tests: a device-api-server child process and
// one-shot command runs with captured output.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "deviceapi/client.h"

namespace deviceapi::e2e {

inline std::string Bin(const std::string& rel) { return std::string(DEVICEAPI_BINARY_DIR) + "/" + rel; }
inline std::string ServerBinary() { return Bin("cmd/device-api-server/device-api-server"); }
inline std::string DevicectlBinary() { return Bin("cmd/devicectl/devicectl"); }

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Single-quotes for /bin/sh.
inline std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CommandResult {
  int code = -1;
  std::string out, err;
};

// Runs `argv` through /bin/sh with `env` prefixed (e.g. "A=b "), capturing
// stdout and stderr in files under `dir`.
inline CommandResult RunCommand(const std::string& dir, const std::vector<std::string>& argv,
                                const std::string& env = "", const std::string& stdin_file = "") {
  static int counter = 0;
  std::string base = dir + "/cmd" + std::to_string(++counter);
  std::string cmd = env;
  for (const auto& a : argv) cmd += Quote(a) + " ";
  cmd += "> " + base + ".out 2> " + base + ".err";
  if (!stdin_file.empty()) cmd += " < " + Quote(stdin_file);
  else cmd += " < /dev/null";
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(base + ".out");
  r.err = Slurp(base + ".err");
  return r;
}

// device-api-server on a Unix socket in `dir`, metrics and probe ports off.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& dir, std::vector<std::string> extra = {})
      : socket_(dir + "/s.sock"), log_(dir + "/server.log") {
    std::vector<std::string> args = {ServerBinary(), "--bind-address", "unix://" + socket_,
                                     "--metrics-bind-address", "0",
                                     "--health-probe-bind-address", "0", "--log-format", "text",
                                     "--storage-type", "memory"};
    args.insert(args.end(), extra.begin(), extra.end());
    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls (other threads may hold the malloc lock).
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execv(cargs[0], cargs.data());
      _exit(127);
    }
  }
  ~ServerProcess() { Stop(); }

  // Waits until the server answers health checks as SERVING.
  bool WaitReady(std::chrono::seconds timeout = std::chrono::seconds(15)) {
    ClientOptions o;
    o.target = target();
    o.default_timeout = std::chrono::seconds(1);
    Client client(o);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::filesystem::exists(socket_) && client.CheckHealth().ok()) return true;
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Waits until the API socket exists (the server may not be ready yet).
  bool WaitSocket(std::chrono::seconds timeout = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::filesystem::exists(socket_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string target() const { return "unix://" + socket_; }
  std::string log() const { return Slurp(log_); }
  pid_t pid() const { return pid_; }

 private:
  std::string socket_, log_;
  pid_t pid_ = -1;
};

}  // namespace deviceapi::e2e
