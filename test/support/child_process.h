// A real binary run as a child process by end-to-end tests, its stdout and
// stderr appended to a log file. Header-only; test code only.
//
// Destruction stops it: SIGTERM, up to 5 s to exit, then SIGKILL, so a test
// that fails half-way never leaves a server behind.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace deviceapi::testing {

class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
               std::string log)
      : log_(std::move(log)) {
    // Everything the child needs is built before fork: the test process has
    // gRPC threads, and a child that allocates (setenv, vector growth) can
    // deadlock on a lock one of them held at the fork (seen under ASan: the
    // child hung before exec, silent).
    std::vector<std::string> environment;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv(*e);
      if (env.count(kv.substr(0, kv.find('='))) == 0) environment.push_back(std::move(kv));
    }
    for (auto& [k, v] : env) environment.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& kv : environment) envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const char* log_path = log_.c_str();
    pid_ = fork();
    if (pid_ == 0) {  // only async-signal-safe calls from here on
      int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (!running()) return;
    kill(pid_, SIGTERM);
    if (!Wait(std::chrono::seconds(5))) {
      kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(5));
    }
  }

  pid_t pid() const { return pid_; }
  bool running() { return pid_ > 0 && !exit_code_ && !Wait(std::chrono::milliseconds(0)); }
  void Signal(int sig) {
    if (running()) kill(pid_, sig);
  }
  // Exit status (or 128 + signal); nullopt while it is still running after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (!exit_code_ && pid_ > 0) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() >= end) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
  }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_;
};

}  // namespace deviceapi::testing
