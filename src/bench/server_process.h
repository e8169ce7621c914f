// A server binary the bench starts itself (startup, compare): fork and exec
// with its output in a log file, wait until it is ready, SIGTERM to stop.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace deviceapi::bench {

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();

  // Execs argv[0] with `argv`, stdout and stderr to `log`.
  bool Start(const std::vector<std::string>& argv, const std::string& log, std::string* error);
  // Waits until the Unix socket `socket` accepts and the server is ready
  // (WaitServing); false with the reason and the log's tail.
  bool WaitReady(const std::string& socket, std::chrono::milliseconds timeout, std::string* error);
  // SIGTERM, then SIGKILL after `grace`: the exit status (128 + signal when
  // killed by one), -1 when it had to be killed, -2 when nothing ran.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(30));

  pid_t pid() const { return pid_; }
  std::int64_t started_ns() const { return started_ns_; }
  std::string LogTail() const;

 private:
  pid_t pid_ = -1;
  std::int64_t started_ns_ = 0;
  std::string log_;
};

}  // namespace deviceapi::bench
