// Runs the real device-api-server binary for end-to-end tests: spawn with
// arguments and a controlled environment, capture stdout/stderr, wait for the
// start-up log line, signal, and wait for the exit with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace deviceapi::testing {

using Env = std::vector<std::pair<std::string, std::string>>;

std::string ServerBinary();

struct ExitResult {
  bool exited = false;  // false: still running at the deadline (then killed)
  int code = -1;        // exit status, or 128+signal
  double seconds = 0;   // from spawn (or from the Wait call's signal) to exit
  std::string out, err;
};

class ServerProcess {
 public:
  // Spawns `binary args...`. The environment is the test's own minus every
  // variable the server reads (DEVICE_API_*, NODE_NAME, LOG_FORMAT), plus `env`, whose
  // variables replace the test's own of the same name.
  explicit ServerProcess(std::vector<std::string> args, Env env = {},
                         std::string binary = ServerBinary());
  ~ServerProcess();  // SIGKILL if still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // The JSON of the "device-api-server started" log line, or nullopt if the
  // process exited or `timeout` passed first.
  std::optional<nlohmann::json> WaitStarted(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits until stderr contains `text`.
  bool WaitForLog(const std::string& text, std::chrono::milliseconds timeout);

  void Signal(int signo);
  ExitResult Wait(std::chrono::milliseconds timeout);

  std::string Stdout();
  std::string Stderr();
  pid_t pid() const { return pid_; }

 private:
  void Reader(int fd, std::string* sink);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string out_, err_;
  int open_pipes_ = 2;
  std::thread out_thread_, err_thread_;
};

// Spawns, waits up to `timeout` for the exit and returns what happened.
ExitResult RunToExit(std::vector<std::string> args, Env env = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Port of "host:port" / ":port" / "[v6]:port".
int PortOf(const std::string& address);

// A fresh directory under /tmp (short, for sun_path); removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Non-empty lines of `text`.
std::vector<std::string> Lines(const std::string& text);

}  // namespace deviceapi::testing
